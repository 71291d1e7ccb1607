import { Transactions } from '../../src/platform/database/transactions';
import { PgLoginAttemptsRepository } from '../../src/protection/login-attempts.repository';
import { describeLoginAttemptsRepository } from '../contracts/login-attempts.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

describe('PgLoginAttemptsRepository', () => {
  let db: MigratedDatabase;
  let repository: PgLoginAttemptsRepository;

  beforeAll(async () => {
    db = await migratedDatabase('login_attempts');
    repository = new PgLoginAttemptsRepository(db.dataSource);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const reset = async (): Promise<void> => {
    await db.dataSource.query(`TRUNCATE login_attempts`);
  };

  describeLoginAttemptsRepository(() => Promise.resolve({ repository, transactions: new Transactions(db.dataSource), reset }));

  describe('under concurrency', () => {
    beforeEach(reset);

    it('gives concurrent attempts on one key distinct numbers', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          repository.countAttempt({ keys: ['email:a@example.com'], first: 'email:a@example.com', firstLimit: 100 }),
        ),
      );
      expect(results.map((r) => r.counted[0]?.failures).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
    });

    it('counts the account only for the attempts within the identifier limit, however many race', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          repository.countAttempt({ keys: ['username:a', 'user:1'], first: 'username:a', account: 'user:1', firstLimit: 3 }),
        ),
      );
      const accountNumbers = results.flatMap((r) => r.counted.filter((c) => c.key === 'user:1').map((c) => c.failures));
      expect(accountNumbers.sort()).toEqual([1, 2, 3]);
      const rows: Array<{ key: string; failures: number }> = await db.dataSource.query(
        `SELECT key, failures FROM login_attempts ORDER BY key`,
      );
      expect(rows).toEqual([
        { key: 'user:1', failures: 3 },
        { key: 'username:a', failures: 12 },
      ]);
    });

    it('lets exactly one of concurrent lock calls set the lock', async () => {
      await repository.countAttempt({ keys: ['email:a@example.com'], first: 'email:a@example.com', firstLimit: 5 });
      const started = await Promise.all(Array.from({ length: 8 }, () => repository.lock('email:a@example.com', 600)));
      expect(started.filter(Boolean)).toHaveLength(1);
    });
  });
});
