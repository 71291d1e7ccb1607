import { randomBytes } from 'node:crypto';

import type { MfaChallengesRepository } from '../../src/mfa/mfa-challenges.repository';
import type { MfaEncryptionKeysRepository } from '../../src/mfa/mfa-encryption-keys.repository';
import type { MfaLockoutRepository } from '../../src/mfa/mfa-lockout.repository';
import type { RecoveryCodesRepository } from '../../src/mfa/recovery-codes.repository';
import type { TotpRepository } from '../../src/mfa/totp.repository';
import { sha256Hex } from '../../src/shared/crypto';

export interface MfaRepositoriesSetup {
  totp: TotpRepository;
  recoveryCodes: RecoveryCodesRepository;
  challenges: MfaChallengesRepository;
  lockouts: MfaLockoutRepository;
  keys: MfaEncryptionKeysRepository;
  /** An id of an existing user (PostgreSQL's rows reference users). */
  newUserId(): Promise<string>;
  /** Forgets the encryption keys (the other repositories' rows belong to fresh users). */
  reset(): Promise<void>;
}

const sealed = (): Buffer => randomBytes(53);
const context = { ttl: 600, ip: '198.51.100.7', userAgent: 'agent', amr: ['pwd'] };

/** The behaviour every implementation of the second-factor repositories shows: PostgreSQL's and the in-memory fakes. */
export function describeMfaRepositories(setup: () => Promise<MfaRepositoriesSetup>): void {
  let h: MfaRepositoriesSetup;

  beforeEach(async () => {
    h = await setup();
    await h.reset();
  });

  describe('TotpRepository contract', () => {
    it('keeps a pending factor, replaces it while pending, and refuses to replace a confirmed one', async () => {
      const user = await h.newUserId();
      expect(await h.totp.find(user)).toBeNull();
      const [first, second] = [sealed(), sealed()];
      expect(await h.totp.savePending(user, first)).toBe(true);
      expect(await h.totp.savePending(user, second)).toBe(true);
      expect(await h.totp.find(user)).toEqual({ secretEnc: second, confirmedAt: null, lastStep: null });
      expect(await h.totp.hasConfirmed(user)).toBe(false);
      expect(await h.totp.claimStep(user, second, 10)).toBe(false);

      expect(await h.totp.confirm(user, first, 10)).toBe(false);
      expect(await h.totp.confirm(user, second, 10)).toBe(true);
      expect(await h.totp.confirm(user, second, 11)).toBe(false);
      expect(await h.totp.find(user)).toEqual({ secretEnc: second, confirmedAt: expect.any(Date), lastStep: 10 });
      expect(await h.totp.hasConfirmed(user)).toBe(true);
      expect(await h.totp.savePending(user, sealed())).toBe(false);
      expect((await h.totp.find(user))?.secretEnc).toEqual(second);
    });

    it('claims each later step once, never an earlier or equal one, and only with the stored secret', async () => {
      const user = await h.newUserId();
      const secret = sealed();
      await h.totp.savePending(user, secret);
      await h.totp.confirm(user, secret, 100);
      expect(await h.totp.claimStep(user, secret, 100)).toBe(false);
      expect(await h.totp.claimStep(user, secret, 99)).toBe(false);
      expect(await h.totp.claimStep(user, sealed(), 101)).toBe(false);
      expect(await h.totp.claimStep(user, secret, 101)).toBe(true);
      expect(await h.totp.claimStep(user, secret, 101)).toBe(false);
      expect(await h.totp.claimStep(user, secret, 103)).toBe(true);
      expect(await h.totp.claimStep(user, secret, 102)).toBe(false);
      expect((await h.totp.find(user))?.lastStep).toBe(103);
    });

    it('of concurrent claims of one step, exactly one wins', async () => {
      const user = await h.newUserId();
      const secret = sealed();
      await h.totp.savePending(user, secret);
      await h.totp.confirm(user, secret, 1);
      const results = await Promise.all(Array.from({ length: 10 }, () => h.totp.claimStep(user, secret, 2)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('deletes a factor once', async () => {
      const user = await h.newUserId();
      await h.totp.savePending(user, sealed());
      expect(await h.totp.delete(user)).toBe(true);
      expect(await h.totp.delete(user)).toBe(false);
      expect(await h.totp.find(user)).toBeNull();
    });
  });

  describe('RecoveryCodesRepository contract', () => {
    const set = (prefix: string) => Array.from({ length: 10 }, (_, i) => ({ lookup: `${prefix}${i}`, codeHash: `hash-${prefix}${i}` }));

    it('finds unused codes by user and lookup, uses each once, counts what is left', async () => {
      const user = await h.newUserId();
      const other = await h.newUserId();
      await h.recoveryCodes.replaceAll(user, set('a'));
      await h.recoveryCodes.replaceAll(other, set('a'));
      expect(await h.recoveryCodes.countUnused(user)).toBe(10);
      const found = await h.recoveryCodes.findUnused(user, 'a3');
      expect(found).toEqual({ id: expect.any(String), codeHash: 'hash-a3' });
      expect(await h.recoveryCodes.findUnused(user, 'zz')).toBeNull();
      expect(await h.recoveryCodes.markUsed(found!.id)).toBe(true);
      expect(await h.recoveryCodes.markUsed(found!.id)).toBe(false);
      expect(await h.recoveryCodes.findUnused(user, 'a3')).toBeNull();
      expect(await h.recoveryCodes.countUnused(user)).toBe(9);
      expect(await h.recoveryCodes.countUnused(other)).toBe(10);
    });

    it('of concurrent uses of one code, exactly one wins', async () => {
      const user = await h.newUserId();
      await h.recoveryCodes.replaceAll(user, set('b'));
      const { id } = (await h.recoveryCodes.findUnused(user, 'b0'))!;
      const results = await Promise.all(Array.from({ length: 10 }, () => h.recoveryCodes.markUsed(id)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('replaces the whole set, and deletes it', async () => {
      const user = await h.newUserId();
      await h.recoveryCodes.replaceAll(user, set('c'));
      const old = (await h.recoveryCodes.findUnused(user, 'c0'))!;
      await h.recoveryCodes.replaceAll(user, set('d'));
      expect(await h.recoveryCodes.findUnused(user, 'c0')).toBeNull();
      expect(await h.recoveryCodes.markUsed(old.id)).toBe(false);
      expect(await h.recoveryCodes.countUnused(user)).toBe(10);
      await h.recoveryCodes.deleteAll(user);
      expect(await h.recoveryCodes.countUnused(user)).toBe(0);
    });

    it('refuses a set with a lookup twice, keeping the old set', async () => {
      const user = await h.newUserId();
      await h.recoveryCodes.replaceAll(user, set('e'));
      await expect(h.recoveryCodes.replaceAll(user, [...set('f'), { lookup: 'f0', codeHash: 'x' }])).rejects.toThrow();
      expect(await h.recoveryCodes.findUnused(user, 'e0')).not.toBeNull();
    });
  });

  describe('MfaChallengesRepository contract', () => {
    const create = async (userId: string, ttlSeconds = 300) => {
      const tokenHash = sha256Hex(randomBytes(32).toString('base64url'));
      return {
        tokenHash,
        challenge: await h.challenges.create({ tokenHash, userId, firstFactor: 'password', loginContext: context, ttlSeconds }),
      };
    };

    it('finds a live challenge by its token hash, with what the first factor asked for', async () => {
      const user = await h.newUserId();
      const { tokenHash, challenge } = await create(user);
      expect(challenge).toEqual({
        id: expect.any(String),
        userId: user,
        firstFactor: 'password',
        loginContext: context,
        attempts: 0,
        expiresAt: expect.any(Date),
      });
      expect(challenge.expiresAt.getTime() - Date.now()).toBeGreaterThan(290_000);
      expect(await h.challenges.findLive(tokenHash, 5)).toEqual(challenge);
      expect(await h.challenges.findLive(sha256Hex('other'), 5)).toBeNull();
    });

    it('counts wrong codes up to the limit, then the challenge is dead', async () => {
      const user = await h.newUserId();
      const { tokenHash, challenge } = await create(user);
      expect(await h.challenges.recordWrongCode(challenge.id, 3)).toBe(1);
      expect(await h.challenges.recordWrongCode(challenge.id, 3)).toBe(2);
      expect(await h.challenges.recordWrongCode(challenge.id, 3)).toBe(3);
      expect(await h.challenges.recordWrongCode(challenge.id, 3)).toBeNull();
      expect(await h.challenges.findLive(tokenHash, 3)).toBeNull();
      expect(await h.challenges.consume(tokenHash, 3)).toBeNull();
    });

    it('is consumed once, also concurrently; then neither found nor counted', async () => {
      const user = await h.newUserId();
      const { tokenHash, challenge } = await create(user);
      const results = await Promise.all(Array.from({ length: 10 }, () => h.challenges.consume(tokenHash, 5)));
      expect(results.filter((r) => r !== null)).toEqual([challenge]);
      expect(await h.challenges.findLive(tokenHash, 5)).toBeNull();
      expect(await h.challenges.recordWrongCode(challenge.id, 5)).toBeNull();
    });

    it('is dead once expired, and the purge removes expired ones only', async () => {
      const user = await h.newUserId();
      const expired = await create(user, -1);
      const live = await create(user);
      expect(await h.challenges.findLive(expired.tokenHash, 5)).toBeNull();
      expect(await h.challenges.consume(expired.tokenHash, 5)).toBeNull();
      expect(await h.challenges.purgeExpired({ graceSeconds: 3600, limit: 100 })).toBe(0);
      expect(await h.challenges.purgeExpired({ graceSeconds: 0, limit: 100 })).toBeGreaterThanOrEqual(1);
      expect(await h.challenges.findLive(live.tokenHash, 5)).not.toBeNull();
    });
  });

  describe('MfaLockoutRepository contract', () => {
    it('numbers consecutive attempts, locks at the limit, refuses while locked, per user', async () => {
      const user = await h.newUserId();
      const other = await h.newUserId();
      expect(await h.lockouts.countAttempt(user, 3, 60)).toEqual({ number: 1, lockedUntil: null });
      expect(await h.lockouts.countAttempt(user, 3, 60)).toEqual({ number: 2, lockedUntil: null });
      const third = await h.lockouts.countAttempt(user, 3, 60);
      expect(third).toEqual({ number: 3, lockedUntil: expect.any(Date) });
      expect(third.lockedUntil!.getTime() - Date.now()).toBeGreaterThan(55_000);
      expect(await h.lockouts.countAttempt(user, 3, 60)).toEqual({ number: null, lockedUntil: third.lockedUntil });
      expect(await h.lockouts.lockedUntil(user)).toEqual(third.lockedUntil);
      expect(await h.lockouts.lockedUntil(other)).toBeNull();
      expect(await h.lockouts.countAttempt(other, 3, 60)).toEqual({ number: 1, lockedUntil: null });
    });

    it('starts afresh after a clear, and after a lock has run out', async () => {
      const user = await h.newUserId();
      await h.lockouts.countAttempt(user, 2, 60);
      await h.lockouts.clear(user);
      expect(await h.lockouts.countAttempt(user, 2, 60)).toEqual({ number: 1, lockedUntil: null });
      expect((await h.lockouts.countAttempt(user, 2, 0.05)).number).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await h.lockouts.lockedUntil(user)).toBeNull();
      expect(await h.lockouts.countAttempt(user, 2, 60)).toEqual({ number: 1, lockedUntil: null });
    });

    it('gives concurrent attempts distinct numbers and lets none past the limit', async () => {
      const user = await h.newUserId();
      const results = await Promise.all(Array.from({ length: 12 }, () => h.lockouts.countAttempt(user, 5, 60)));
      expect(results.flatMap((r) => (r.number === null ? [] : [r.number])).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
    });
  });

  describe('MfaEncryptionKeysRepository contract', () => {
    it('stores one current key however many race, and gives it back', async () => {
      expect(await h.keys.findAll()).toEqual([]);
      const keys = Array.from({ length: 5 }, () => ({ kid: randomBytes(4).toString('hex'), key: randomBytes(32) }));
      const stored = await Promise.all(keys.map((k) => h.keys.insertCurrentIfNone(k)));
      expect(stored.filter(Boolean)).toHaveLength(1);
      const winner = keys[stored.indexOf(true)];
      expect(await h.keys.findAll()).toEqual([{ kid: winner.kid, key: winner.key, current: true }]);
    });
  });
}
