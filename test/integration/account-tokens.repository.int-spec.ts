import { PgAccountTokensRepository, type ClaimedAccountToken } from '../../src/auth/account-tokens.repository';
import { Transactions } from '../../src/platform/database/transactions';
import { sha256Hex } from '../../src/shared/crypto';
import { describeAccountTokensRepository } from '../contracts/account-tokens.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

describe('PgAccountTokensRepository', () => {
  let db: MigratedDatabase;
  let repository: PgAccountTokensRepository;
  let transactions: Transactions;

  beforeAll(async () => {
    db = await migratedDatabase('account_tokens_repo');
    repository = new PgAccountTokensRepository(db.dataSource);
    transactions = new Transactions(db.dataSource);
  });
  afterAll(() => db?.drop());

  const reset = async () => {
    await db.dataSource.query('TRUNCATE email_verification_tokens, password_reset_tokens, users CASCADE');
  };
  const givenUser = async (email: string, username: string | null) => {
    const rows: Array<{ id: string }> = await db.dataSource.query(
      `INSERT INTO users (email, username, password_hash) VALUES ($1, $2, 'hash') RETURNING id`,
      [email, username],
    );
    return rows[0].id;
  };

  describeAccountTokensRepository(() => Promise.resolve({ repository, transactions, reset, givenUser }));

  describe.each([
    ['email_verification', 'email_verification_tokens'],
    ['password_reset', 'password_reset_tokens'],
  ] as const)('only PostgreSQL shows, %s tokens', (kind, table) => {
    beforeEach(reset);

    it('stores the token only as its SHA-256', async () => {
      const userId = await givenUser('hashed@example.test', null);
      await repository.issue(kind, 'the-secret-token', { userId, email: 'hashed@example.test', ttlSeconds: 60 });
      const rows: Array<Record<string, unknown>> = await db.dataSource.query(`SELECT * FROM ${table}`);
      expect(rows).toEqual([
        expect.objectContaining({
          token_hash: sha256Hex('the-secret-token'),
          user_id: userId,
          email: 'hashed@example.test',
          used_at: null,
        }),
      ]);
      expect(JSON.stringify(rows)).not.toContain('the-secret-token');
    });

    it('leaves a token usable when the claiming transaction rolls back', async () => {
      const userId = await givenUser('rollback@example.test', null);
      await repository.issue(kind, 'rolled-back', { userId, email: 'rollback@example.test', ttlSeconds: 60 });
      await expect(
        transactions.run(async (tx) => {
          expect(await repository.claim(kind, 'rolled-back', tx)).toMatchObject({ userId });
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await repository.claim(kind, 'rolled-back')).toMatchObject({ userId });
    });

    it('settles a claim racing an uncommitted one by its outcome: nothing after a commit, the token after a rollback', async () => {
      const userId = await givenUser('waits@example.test', null);
      await repository.issue(kind, 'committed', { userId, email: 'waits@example.test', ttlSeconds: 60 });
      await repository.issue(kind, 'rolled-back', { userId, email: 'waits@example.test', ttlSeconds: 60 });

      let afterCommit: Promise<ClaimedAccountToken | null> | undefined;
      await transactions.run(async (tx) => {
        expect(await repository.claim(kind, 'committed', tx)).toMatchObject({ userId });
        afterCommit = repository.claim(kind, 'committed');
      });
      expect(await afterCommit).toBeNull();

      let afterRollback: Promise<ClaimedAccountToken | null> | undefined;
      await expect(
        transactions.run(async (tx) => {
          expect(await repository.claim(kind, 'rolled-back', tx)).toMatchObject({ userId });
          afterRollback = repository.claim(kind, 'rolled-back');
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await afterRollback).toEqual({ userId, email: 'waits@example.test' });
    });
  });
});
