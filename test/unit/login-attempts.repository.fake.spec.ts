import { describeLoginAttemptsRepository } from '../contracts/login-attempts.repository.contract';
import { InMemoryLoginAttemptsRepository } from '../fakes/login-attempts.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

describe('InMemoryLoginAttemptsRepository', () => {
  // A fresh fake per test is already empty.
  describeLoginAttemptsRepository(() =>
    Promise.resolve({
      repository: new InMemoryLoginAttemptsRepository(),
      transactions: new InMemoryTransactions(),
      reset: () => Promise.resolve(),
    }),
  );
});
