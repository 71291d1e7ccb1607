import { describeAuditRepository } from '../contracts/audit.repository.contract';
import { InMemoryAuditRepository } from '../fakes/audit.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

describe('InMemoryAuditRepository', () => {
  // A fresh fake per test is already empty.
  describeAuditRepository(() =>
    Promise.resolve({
      repository: new InMemoryAuditRepository(),
      transactions: new InMemoryTransactions(),
      reset: () => Promise.resolve(),
    }),
  );
});
