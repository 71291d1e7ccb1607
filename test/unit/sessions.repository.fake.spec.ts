import { describeSessionsRepository } from '../contracts/sessions.repository.contract';
import { InMemorySessionsRepository } from '../fakes/sessions.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

describe('InMemorySessionsRepository', () => {
  let repository = new InMemorySessionsRepository();

  describeSessionsRepository(() =>
    Promise.resolve({
      get repository() {
        return repository;
      },
      transactions: new InMemoryTransactions(),
      reset: () => {
        repository = new InMemorySessionsRepository();
        return Promise.resolve();
      },
      givenUser: (user) => Promise.resolve(repository.givenUser(user)),
      deactivateUser: (userId) => Promise.resolve(repository.deactivateUser(userId)),
    }),
  );
});
