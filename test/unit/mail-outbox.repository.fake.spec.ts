import { describeMailOutboxRepository } from '../contracts/mail-outbox.repository.contract';
import { InMemoryMailOutboxRepository } from '../fakes/mail-outbox.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

describe('InMemoryMailOutboxRepository', () => {
  // A fresh fake per test is already empty.
  describeMailOutboxRepository(() =>
    Promise.resolve({
      repository: new InMemoryMailOutboxRepository(),
      transactions: new InMemoryTransactions(),
      reset: () => Promise.resolve(),
    }),
  );
});
