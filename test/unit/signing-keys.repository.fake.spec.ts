import { describeSigningKeysRepository } from '../contracts/signing-keys.repository.contract';
import { InMemorySigningKeysRepository } from '../fakes/signing-keys.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

describe('InMemorySigningKeysRepository', () => {
  let repository = new InMemorySigningKeysRepository();

  describeSigningKeysRepository(() =>
    Promise.resolve({
      get repository() {
        return repository;
      },
      transactions: new InMemoryTransactions(),
      reset: () => {
        repository = new InMemorySigningKeysRepository();
        return Promise.resolve();
      },
    }),
  );
});
