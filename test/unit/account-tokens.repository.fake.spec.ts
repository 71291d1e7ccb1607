import { describeAccountTokensRepository } from '../contracts/account-tokens.repository.contract';
import { InMemoryAccountTokensRepository } from '../fakes/account-tokens.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';
import { InMemoryUsersRepository } from '../fakes/users.repository.fake';

describe('InMemoryAccountTokensRepository', () => {
  let users = new InMemoryUsersRepository();
  let repository = new InMemoryAccountTokensRepository(users);

  describeAccountTokensRepository(() =>
    Promise.resolve({
      get repository() {
        return repository;
      },
      transactions: new InMemoryTransactions(),
      reset: () => {
        users = new InMemoryUsersRepository();
        repository = new InMemoryAccountTokensRepository(users);
        return Promise.resolve();
      },
      givenUser: async (email: string, username: string | null) =>
        (await users.insert({ email, username, passwordHash: 'hash', emailVerified: false, roles: ['user'] })).id,
    }),
  );
});
