import type { Tx } from '../../src/platform/database/transactions';

export const IN_MEMORY_TX = {} as Tx;

export class InMemoryTransactions {
  run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return work(IN_MEMORY_TX);
  }
}
