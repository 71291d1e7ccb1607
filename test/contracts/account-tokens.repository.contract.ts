import { randomUUID } from 'node:crypto';

import type { AccountTokenKind, AccountTokensRepository } from '../../src/auth/account-tokens.repository';
import type { Transactions } from '../../src/platform/database/transactions';

export interface AccountTokensRepositorySetup {
  repository: AccountTokensRepository;
  transactions: { run: Transactions['run'] };
  /** Empties the token tables and the users, or starts afresh. */
  reset(): Promise<void>;
  /** A user the tokens can belong to; its id. */
  givenUser(email: string, username: string | null): Promise<string>;
}

const HOUR = 3600;
const KINDS: AccountTokenKind[] = ['email_verification', 'password_reset'];
const token = () => `token-${randomUUID()}`;

/** What every AccountTokensRepository does, whatever it stores tokens in. */
export function describeAccountTokensRepository(setup: () => Promise<AccountTokensRepositorySetup>): void {
  let s: AccountTokensRepositorySetup;
  let repository: AccountTokensRepository;

  beforeAll(async () => {
    s = await setup();
  });
  beforeEach(async () => {
    await s.reset();
    // Read after the reset: an implementation may start afresh.
    repository = s.repository;
  });

  describe.each(KINDS)('%s tokens', (kind) => {
    it('finds the owner of a live token without using it, then claims it once', async () => {
      const userId = await s.givenUser('owner@example.test', 'owner');
      const t = token();
      await repository.issue(kind, t, { userId, email: 'owner@example.test', ttlSeconds: HOUR });
      expect(await repository.findOwner(kind, t)).toEqual({ email: 'owner@example.test', username: 'owner' });
      expect(await repository.findOwner(kind, t)).toEqual({ email: 'owner@example.test', username: 'owner' });
      expect(await repository.claim(kind, t)).toEqual({ userId, email: 'owner@example.test' });
      expect(await repository.claim(kind, t)).toBeNull();
      expect(await repository.findOwner(kind, t)).toBeNull();
    });

    it('keeps the address the token was issued for, whatever the user’s address is now', async () => {
      const userId = await s.givenUser('now@example.test', null);
      const t = token();
      await repository.issue(kind, t, { userId, email: 'then@example.test', ttlSeconds: HOUR });
      expect(await repository.findOwner(kind, t)).toEqual({ email: 'now@example.test', username: null });
      expect(await repository.claim(kind, t)).toEqual({ userId, email: 'then@example.test' });
    });

    it('knows no unknown or expired token', async () => {
      const userId = await s.givenUser('expired@example.test', null);
      const expired = token();
      await repository.issue(kind, expired, { userId, email: 'expired@example.test', ttlSeconds: -1 });
      expect(await repository.findOwner(kind, expired)).toBeNull();
      expect(await repository.claim(kind, expired)).toBeNull();
      expect(await repository.findOwner(kind, token())).toBeNull();
      expect(await repository.claim(kind, token())).toBeNull();
    });

    it('does not take a token of the other kind', async () => {
      const userId = await s.givenUser('kind@example.test', null);
      const t = token();
      await repository.issue(kind, t, { userId, email: 'kind@example.test', ttlSeconds: HOUR });
      const other = KINDS.find((k) => k !== kind)!;
      expect(await repository.findOwner(other, t)).toBeNull();
      expect(await repository.claim(other, t)).toBeNull();
      expect(await repository.claim(kind, t)).toMatchObject({ userId });
    });

    it('voids every unused token of the user, of this kind only', async () => {
      const userId = await s.givenUser('void@example.test', null);
      const otherUserId = await s.givenUser('keep@example.test', null);
      const [first, second, used, expired, othersUsers, otherKind] = [token(), token(), token(), token(), token(), token()];
      const grant = { userId, email: 'void@example.test', ttlSeconds: HOUR };
      await repository.issue(kind, first, grant);
      await repository.issue(kind, second, grant);
      await repository.issue(kind, used, grant);
      await repository.claim(kind, used);
      await repository.issue(kind, expired, { ...grant, ttlSeconds: -1 });
      await repository.issue(kind, othersUsers, { userId: otherUserId, email: 'keep@example.test', ttlSeconds: HOUR });
      await repository.issue(
        KINDS.find((k) => k !== kind)!,
        otherKind,
        grant,
      );

      // The expired one is unused too, and is marked with the others.
      expect(await repository.voidAllForUser(kind, userId)).toBe(3);
      expect(await repository.claim(kind, first)).toBeNull();
      expect(await repository.claim(kind, second)).toBeNull();
      expect(await repository.claim(kind, othersUsers)).toMatchObject({ userId: otherUserId });
      expect(
        await repository.findOwner(
          KINDS.find((k) => k !== kind)!,
          otherKind,
        ),
      ).toEqual({ email: 'void@example.test', username: null });
      expect(await repository.voidAllForUser(kind, userId)).toBe(0);
    });

    it('gives a token to one of two concurrent claims', async () => {
      const userId = await s.givenUser('race@example.test', null);
      const t = token();
      await repository.issue(kind, t, { userId, email: 'race@example.test', ttlSeconds: HOUR });
      const claims = await Promise.all([repository.claim(kind, t), repository.claim(kind, t)]);
      expect(claims.filter((c) => c !== null)).toEqual([{ userId, email: 'race@example.test' }]);
    });

    it('takes part in the caller’s transaction', async () => {
      const userId = await s.givenUser('tx@example.test', null);
      const t = token();
      const claimed = await s.transactions.run(async (tx) => {
        await repository.issue(kind, t, { userId, email: 'tx@example.test', ttlSeconds: HOUR }, tx);
        expect(await repository.findOwner(kind, t, tx)).toEqual({ email: 'tx@example.test', username: null });
        return repository.claim(kind, t, tx);
      });
      expect(claimed).toEqual({ userId, email: 'tx@example.test' });
      expect(await repository.findOwner(kind, t)).toBeNull();
    });
  });
}
