import type { Transactions } from '../../src/platform/database/transactions';
import type { LoginAttemptsRepository } from '../../src/protection/login-attempts.repository';

export interface LoginAttemptsRepositorySetup {
  repository: LoginAttemptsRepository;
  transactions: { run: Transactions['run'] };
  reset(): Promise<void>;
}

/** The behaviour every LoginAttemptsRepository shows; run against PostgreSQL and the in-memory fake. */
export function describeLoginAttemptsRepository(setup: () => Promise<LoginAttemptsRepositorySetup>): void {
  describe('LoginAttemptsRepository contract', () => {
    let repository: LoginAttemptsRepository;
    const attempt = (first: string, account?: string, firstLimit = 5) =>
      repository.countAttempt({ keys: account ? [first, account] : [first], first, account, firstLimit });

    beforeEach(async () => {
      const given = await setup();
      await given.reset();
      repository = given.repository;
    });

    it('counts a first attempt as failure 1 on the identifier and the account', async () => {
      await expect(attempt('email:a@example.com', 'user:1')).resolves.toEqual({
        counted: [
          { key: 'email:a@example.com', failures: 1 },
          { key: 'user:1', failures: 1 },
        ],
        lockedForSeconds: 0,
      });
    });

    it('counts consecutive attempts up, per key', async () => {
      await attempt('email:a@example.com', 'user:1');
      await attempt('username:a', 'user:1');
      const third = await attempt('email:a@example.com', 'user:1');
      expect(third.counted).toEqual([
        { key: 'email:a@example.com', failures: 2 },
        { key: 'user:1', failures: 3 },
      ]);
    });

    it('counts only the first key when there is no account', async () => {
      await attempt('email:nobody@example.com');
      await expect(attempt('email:nobody@example.com')).resolves.toEqual({
        counted: [{ key: 'email:nobody@example.com', failures: 2 }],
        lockedForSeconds: 0,
      });
    });

    it('stops counting the account once the first key is beyond its limit', async () => {
      const accounts: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        const { counted } = await attempt('username:a', 'user:1', 2);
        accounts.push(counted.find((c) => c.key === 'user:1')?.failures ?? 0);
        expect(counted[0]).toEqual({ key: 'username:a', failures: i + 1 });
      }
      expect(accounts).toEqual([1, 2, 0, 0]);
    });

    it('locks a counted key once, and not a key never counted', async () => {
      await attempt('email:a@example.com');
      await expect(repository.lock('email:a@example.com', 600)).resolves.toBe(true);
      await expect(repository.lock('email:a@example.com', 600)).resolves.toBe(false);
      await expect(repository.lock('email:never@example.com', 600)).resolves.toBe(false);
    });

    it('counts nothing while any of the keys is locked, and says for how long', async () => {
      await attempt('email:a@example.com', 'user:1');
      await repository.lock('user:1', 600);
      const refused = await attempt('email:a@example.com', 'user:1');
      expect(refused.counted).toEqual([]);
      expect(refused.lockedForSeconds).toBeGreaterThan(0);
      expect(refused.lockedForSeconds).toBeLessThanOrEqual(600);
      await repository.clear(['user:1']);
      // The refused attempt left the identifier's count where it was.
      await expect(attempt('email:a@example.com', 'user:1')).resolves.toEqual({
        counted: [
          { key: 'email:a@example.com', failures: 2 },
          { key: 'user:1', failures: 1 },
        ],
        lockedForSeconds: 0,
      });
    });

    it('looks for locks on every key given, not only the ones it counts', async () => {
      await attempt('change:1');
      await repository.lock('change:1', 600);
      const refused = await repository.countAttempt({
        keys: ['email:a@example.com', 'change:1'],
        first: 'email:a@example.com',
        firstLimit: 5,
      });
      expect(refused.counted).toEqual([]);
      expect(refused.lockedForSeconds).toBeGreaterThan(0);
    });

    it('starts a fresh count, and may lock again, once a lock has run out', async () => {
      for (let i = 0; i < 3; i += 1) await attempt('email:a@example.com', 'user:1');
      // A lock of no time has run out at once.
      await expect(repository.lock('email:a@example.com', 0)).resolves.toBe(true);
      await expect(attempt('email:a@example.com', 'user:1')).resolves.toEqual({
        counted: [
          { key: 'email:a@example.com', failures: 1 },
          { key: 'user:1', failures: 4 },
        ],
        lockedForSeconds: 0,
      });
      await repository.lock('email:a@example.com', 0);
      await expect(repository.lock('email:a@example.com', 600)).resolves.toBe(true);
    });

    it('clears the keys given, locks included, and no others', async () => {
      await attempt('email:a@example.com', 'user:1');
      await attempt('email:b@example.com', 'user:2');
      await repository.lock('user:1', 600);
      await repository.clear(['email:a@example.com', 'user:1', 'username:absent']);
      await expect(attempt('email:a@example.com', 'user:1')).resolves.toEqual({
        counted: [
          { key: 'email:a@example.com', failures: 1 },
          { key: 'user:1', failures: 1 },
        ],
        lockedForSeconds: 0,
      });
      expect((await attempt('email:b@example.com', 'user:2')).counted).toEqual([
        { key: 'email:b@example.com', failures: 2 },
        { key: 'user:2', failures: 2 },
      ]);
    });
  });
}
