import { describeUsersRepository } from '../contracts/users.repository.contract';
import { InMemoryTransactions } from '../fakes/transactions.fake';
import { InMemoryUsersRepository } from '../fakes/users.repository.fake';

describe('InMemoryUsersRepository', () => {
  let repository = new InMemoryUsersRepository();

  describeUsersRepository(() =>
    Promise.resolve({
      get repository() {
        return repository;
      },
      transactions: new InMemoryTransactions(),
      reset: () => {
        repository = new InMemoryUsersRepository();
        return Promise.resolve();
      },
    }),
  );
});
