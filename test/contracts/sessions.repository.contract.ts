import { randomBytes, randomUUID } from 'node:crypto';

import type { Transactions } from '../../src/platform/database/transactions';
import {
  IMPERSONATOR_SESSION_ENDED,
  type NewSession,
  type SessionAssurance,
  type SessionsRepository,
} from '../../src/sessions/sessions.repository';

export interface SessionsRepositoryHarness {
  repository: SessionsRepository;
  transactions: { run: Transactions['run'] };
  /** Forgets every session, refresh token and user. */
  reset(): Promise<void>;
  /** A user the repository can open sessions for; its id. */
  givenUser(user?: { passwordHash?: string; deactivated?: boolean; email?: string; roles?: string[] }): Promise<string>;
  /** Marks the user deactivated and nothing more (as if the revocation of its sessions were lost). */
  deactivateUser(userId: string): Promise<void>;
}

const hash = (): string => randomBytes(32).toString('hex');
const PWD: SessionAssurance = { amr: ['pwd'], aal: 1 };

/**
 * What every SessionsRepository must do, whatever it stores sessions in. Behaviour only PostgreSQL
 * can show (row locks under concurrency, rollback, NOTIFY) is in the integration spec.
 */
export function describeSessionsRepository(setup: () => Promise<SessionsRepositoryHarness>): void {
  let h: SessionsRepositoryHarness;
  let repository: SessionsRepository;

  beforeAll(async () => {
    h = await setup();
  });
  beforeEach(async () => {
    await h.reset();
    // A reset may hand over a new instance.
    repository = h.repository;
  });

  const open = async (userId: string, extra: Partial<NewSession> = {}) => {
    const refreshTokenHash = hash();
    const session = await repository.createWithRefreshToken({
      userId,
      ip: null,
      userAgent: null,
      ttlSeconds: 3600,
      refreshTokenHash,
      assurance: PWD,
      ...extra,
    });
    if (!session) throw new Error('session refused');
    return { session, refreshTokenHash: extra.refreshTokenHash ?? refreshTokenHash };
  };

  describe('createWithRefreshToken', () => {
    it('opens a live session for an active user, as given', async () => {
      const userId = await h.givenUser();
      const session = await repository.createWithRefreshToken({
        userId,
        ip: '10.0.0.1',
        userAgent: 'agent/1',
        ttlSeconds: 600,
        refreshTokenHash: hash(),
        assurance: PWD,
      });
      expect(session).toMatchObject({
        userId,
        ip: '10.0.0.1',
        userAgent: 'agent/1',
        revokedAt: null,
        revokeReason: null,
        impersonatorId: null,
        impersonatorSessionId: null,
      });
      expect(session!.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(session!.expiresAt.getTime() - session!.createdAt.getTime()).toBe(600_000);
      expect(session).toMatchObject({ amr: ['pwd'], aal: 1, authTime: session!.createdAt });
      expect(await repository.findLive(session!.id, userId)).toMatchObject({ id: session!.id, userId, ip: '10.0.0.1' });
    });

    it('refuses a deactivated or unknown user', async () => {
      const deactivated = await h.givenUser({ deactivated: true });
      expect(
        await repository.createWithRefreshToken({
          userId: deactivated,
          ip: null,
          userAgent: null,
          ttlSeconds: 600,
          refreshTokenHash: hash(),
          assurance: PWD,
        }),
      ).toBeNull();
      expect(
        await repository.createWithRefreshToken({
          userId: randomUUID(),
          ip: null,
          userAgent: null,
          ttlSeconds: 600,
          refreshTokenHash: hash(),
          assurance: PWD,
        }),
      ).toBeNull();
      expect(await repository.listLiveForUser(deactivated)).toEqual([]);
    });

    it('opens a password login only while the user has the checked password hash', async () => {
      const userId = await h.givenUser({ passwordHash: 'hash-now' });
      expect(
        await repository.createWithRefreshToken({
          userId,
          ip: null,
          userAgent: null,
          ttlSeconds: 600,
          refreshTokenHash: hash(),
          assurance: PWD,
          checkedPasswordHash: 'hash-before',
        }),
      ).toBeNull();
      const session = await repository.createWithRefreshToken({
        userId,
        ip: null,
        userAgent: null,
        ttlSeconds: 600,
        refreshTokenHash: hash(),
        assurance: PWD,
        checkedPasswordHash: 'hash-now',
      });
      expect(session?.userId).toBe(userId);
    });

    it('opens an impersonation only from a live session of the admin, never outliving it', async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const { session: adminSession } = await open(admin, { ttlSeconds: 120 });
      const { session } = await open(target, { ttlSeconds: 3600, impersonator: { userId: admin, sessionId: adminSession.id } });
      expect(session).toMatchObject({ userId: target, impersonatorId: admin, impersonatorSessionId: adminSession.id });
      expect(session.expiresAt).toEqual(adminSession.expiresAt);

      const { session: expired } = await open(admin, { ttlSeconds: -60 });
      expect(
        await repository.createWithRefreshToken({
          userId: target,
          ip: null,
          userAgent: null,
          ttlSeconds: 600,
          refreshTokenHash: hash(),
          assurance: PWD,
          impersonator: { userId: admin, sessionId: expired.id },
        }),
      ).toBeNull();
      await repository.revoke(adminSession.id, 'logout');
      expect(
        await repository.createWithRefreshToken({
          userId: target,
          ip: null,
          userAgent: null,
          ttlSeconds: 600,
          refreshTokenHash: hash(),
          assurance: PWD,
          impersonator: { userId: admin, sessionId: adminSession.id },
        }),
      ).toBeNull();
    });
  });

  describe('rotateRefreshToken', () => {
    const rotate = (tokenHash: string, nextTokenHash = hash(), from: { ip?: string; userAgent?: string } = {}) =>
      repository.rotateRefreshToken({ tokenHash, nextTokenHash, ip: from.ip ?? null, userAgent: from.userAgent ?? null });

    it('swaps the token once, marks the session used, records where from and reads the user', async () => {
      const userId = await h.givenUser({ email: 'rotating@example.com', roles: ['user', 'auditor'] });
      const { session, refreshTokenHash } = await open(userId, { ip: '10.0.0.1', userAgent: 'agent/1' });
      const next = hash();
      const rotated = await rotate(refreshTokenHash, next, { ip: '10.0.0.2' });
      expect(rotated?.session).toMatchObject({
        id: session.id,
        userId,
        ip: '10.0.0.2',
        userAgent: 'agent/1',
        expiresAt: session.expiresAt,
      });
      expect(rotated!.session.lastUsedAt.getTime()).toBeGreaterThanOrEqual(session.lastUsedAt.getTime());
      expect(rotated?.user).toEqual({
        id: userId,
        email: 'rotating@example.com',
        username: null,
        displayName: null,
        mfaEnabled: false,
        emailVerified: false,
        roles: ['user', 'auditor'],
        deactivated: false,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });

      expect(await rotate(refreshTokenHash)).toBeNull();
      expect(await rotate(next)).toMatchObject({ session: { id: session.id, ip: '10.0.0.2' }, user: { id: userId } });
    });

    it('rotates no unknown token, and none of a revoked or expired session', async () => {
      const userId = await h.givenUser();
      expect(await rotate(hash())).toBeNull();
      const revoked = await open(userId);
      await repository.revoke(revoked.session.id, 'logout');
      expect(await rotate(revoked.refreshTokenHash)).toBeNull();
      const expired = await open(userId, { ttlSeconds: -60 });
      expect(await rotate(expired.refreshTokenHash)).toBeNull();
    });

    it("claims the token of a deactivated user's session but records no successor", async () => {
      const userId = await h.givenUser();
      const { session, refreshTokenHash } = await open(userId);
      await h.deactivateUser(userId);
      const next = hash();
      expect(await rotate(refreshTokenHash, next)).toMatchObject({ session: { id: session.id }, user: { id: userId, deactivated: true } });
      expect(await repository.findRefreshToken(next, { reuseIntervalSeconds: 0 })).toBeNull();
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 3600 })).toMatchObject({ rotated: true });
      expect(await rotate(refreshTokenHash)).toBeNull();
    });
  });

  describe('assurance', () => {
    it('keeps what the session was opened with, and a rotation keeps it', async () => {
      const userId = await h.givenUser();
      const { session, refreshTokenHash } = await open(userId, { assurance: { amr: ['otp', 'pwd'], aal: 2 } });
      expect(session).toMatchObject({ amr: ['otp', 'pwd'], aal: 2 });
      const rotated = await repository.rotateRefreshToken({
        tokenHash: refreshTokenHash,
        nextTokenHash: hash(),
        ip: null,
        userAgent: null,
      });
      expect(rotated?.session).toMatchObject({ amr: ['otp', 'pwd'], aal: 2, authTime: session.authTime });
      expect(await repository.findLive(session.id, userId)).toMatchObject({ amr: ['otp', 'pwd'], aal: 2, authTime: session.authTime });
    });

    it('reauthenticate moves auth_time, adds the factors, and swaps every live refresh token for the new one', async () => {
      const userId = await h.givenUser({ email: 'reauth@example.com' });
      const { session, refreshTokenHash } = await open(userId, { assurance: { amr: ['pwd'], aal: 1 } });
      const next = hash();
      const reauthenticated = await repository.reauthenticate({ sessionId: session.id, userId, amr: ['otp', 'pwd'], nextTokenHash: next });
      expect(reauthenticated?.session).toMatchObject({ id: session.id, amr: ['otp', 'pwd'], aal: 1, expiresAt: session.expiresAt });
      expect(reauthenticated!.session.authTime.getTime()).toBeGreaterThan(session.authTime.getTime());
      expect(reauthenticated?.user).toMatchObject({ id: userId, email: 'reauth@example.com' });
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 3600 })).toMatchObject({ rotated: true });
      expect(await repository.findRefreshToken(next, { reuseIntervalSeconds: 0 })).toMatchObject({ rotated: false, sessionLive: true });
    });

    it("reauthenticate refuses a session that is not live, another user's, a deactivated user's, or a malformed id", async () => {
      const userId = await h.givenUser();
      const other = await h.givenUser();
      const reauth = (sessionId: string, as = userId) =>
        repository.reauthenticate({ sessionId, userId: as, amr: ['pwd'], nextTokenHash: hash() });
      const revoked = await open(userId);
      await repository.revoke(revoked.session.id, 'logout');
      expect(await reauth(revoked.session.id)).toBeNull();
      const { session } = await open(userId);
      expect(await reauth(session.id, other)).toBeNull();
      expect(await reauth('nope')).toBeNull();
      await h.deactivateUser(userId);
      expect(await reauth(session.id)).toBeNull();
    });
    it('raiseAssurance moves auth_time, adds the factors and raises aal, in a transaction too; the refresh token stays', async () => {
      const userId = await h.givenUser();
      const { session, refreshTokenHash } = await open(userId);
      const raised = await h.transactions.run((tx) =>
        repository.raiseAssurance({ sessionId: session.id, userId, amr: ['otp', 'mfa'], aal: 2 }, tx),
      );
      expect(raised).toMatchObject({ id: session.id, amr: ['mfa', 'otp', 'pwd'], aal: 2, expiresAt: session.expiresAt });
      expect(raised!.authTime.getTime()).toBeGreaterThan(session.authTime.getTime());
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({ rotated: false });
      // The next refresh carries the raised values.
      const rotated = await repository.rotateRefreshToken({
        tokenHash: refreshTokenHash,
        nextTokenHash: hash(),
        ip: null,
        userAgent: null,
      });
      expect(rotated?.session).toMatchObject({ amr: ['mfa', 'otp', 'pwd'], aal: 2, authTime: raised!.authTime });
      // Never lowered.
      expect(await repository.raiseAssurance({ sessionId: session.id, userId, amr: ['pwd'], aal: 1 })).toMatchObject({ aal: 2 });
    });

    it("raiseAssurance refuses a session that is not live, another user's, an impersonation, a deactivated user's, or a malformed id", async () => {
      const userId = await h.givenUser();
      const admin = await h.givenUser();
      const raise = (sessionId: string, as = userId) => repository.raiseAssurance({ sessionId, userId: as, amr: ['otp'], aal: 2 });
      const revoked = await open(userId);
      await repository.revoke(revoked.session.id, 'logout');
      expect(await raise(revoked.session.id)).toBeNull();
      const { session: adminSession } = await open(admin);
      const { session: held } = await open(userId, { impersonator: { userId: admin, sessionId: adminSession.id } });
      expect(await raise(held.id)).toBeNull();
      const { session } = await open(userId);
      expect(await raise(session.id, admin)).toBeNull();
      expect(await raise('nope')).toBeNull();
      await h.deactivateUser(userId);
      expect(await raise(session.id)).toBeNull();
      expect(await repository.findLive(session.id, userId)).toMatchObject({ aal: 1, amr: ['pwd'] });
    });
  });

  describe('restoreRefreshToken', () => {
    it('undoes a rotation: the new token is gone and the old one rotates again', async () => {
      const userId = await h.givenUser();
      const { session, refreshTokenHash } = await open(userId);
      const next = hash();
      await repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: next, ip: null, userAgent: null });
      expect(await repository.restoreRefreshToken(refreshTokenHash, next)).toBe(true);
      expect(await repository.findRefreshToken(next, { reuseIntervalSeconds: 0 })).toBeNull();
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({ rotated: false });
      expect(await repository.restoreRefreshToken(refreshTokenHash, next)).toBe(false);
      expect(
        await repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: hash(), ip: null, userAgent: null }),
      ).toMatchObject({ session: { id: session.id } });
    });

    it('undoes nothing once the new token was used, and never for a token of another session', async () => {
      const userId = await h.givenUser();
      const first = await open(userId);
      const next = hash();
      await repository.rotateRefreshToken({ tokenHash: first.refreshTokenHash, nextTokenHash: next, ip: null, userAgent: null });
      await repository.rotateRefreshToken({ tokenHash: next, nextTokenHash: hash(), ip: null, userAgent: null });
      expect(await repository.restoreRefreshToken(first.refreshTokenHash, next)).toBe(false);
      expect(await repository.findRefreshToken(first.refreshTokenHash, { reuseIntervalSeconds: 3600 })).toMatchObject({ rotated: true });

      const other = await open(userId);
      const spent = await open(userId);
      await repository.rotateRefreshToken({ tokenHash: spent.refreshTokenHash, nextTokenHash: hash(), ip: null, userAgent: null });
      expect(await repository.restoreRefreshToken(spent.refreshTokenHash, other.refreshTokenHash)).toBe(false);
      expect(await repository.findRefreshToken(other.refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({ rotated: false });
      expect(await repository.restoreRefreshToken(hash(), other.refreshTokenHash)).toBe(false);
      expect(await repository.findRefreshToken(other.refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({ rotated: false });
    });
  });

  describe('findRefreshToken', () => {
    it('tells an unrotated token, a token rotated within the interval and one rotated before it', async () => {
      const userId = await h.givenUser();
      const { session, refreshTokenHash } = await open(userId);
      expect(await repository.findRefreshToken(hash(), { reuseIntervalSeconds: 0 })).toBeNull();
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 0 })).toEqual({
        sessionId: session.id,
        userId,
        rotated: false,
        rotatedBeforeInterval: false,
        sessionLive: true,
      });
      await repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: hash(), ip: null, userAgent: null });
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 3600 })).toEqual({
        sessionId: session.id,
        userId,
        rotated: true,
        rotatedBeforeInterval: false,
        sessionLive: true,
      });
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({
        rotated: true,
        rotatedBeforeInterval: true,
      });
      await repository.revoke(session.id, 'logout');
      expect(await repository.findRefreshToken(refreshTokenHash, { reuseIntervalSeconds: 0 })).toMatchObject({ sessionLive: false });
    });
  });

  describe('findLive and listLiveForUser', () => {
    it('find only a live session of the user; a malformed id is not found', async () => {
      const userId = await h.givenUser();
      const other = await h.givenUser();
      const { session } = await open(userId);
      const { session: expired } = await open(userId, { ttlSeconds: -60 });
      expect(await repository.findLive(session.id, other)).toBeNull();
      expect(await repository.findLive(expired.id, userId)).toBeNull();
      expect(await repository.findLive('not-a-uuid', userId)).toBeNull();
      await repository.revoke(session.id, 'logout');
      expect(await repository.findLive(session.id, userId)).toBeNull();
    });

    it("list the user's live sessions and the impersonations the user holds, newest first", async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const first = await open(admin);
      const revoked = await open(admin);
      await open(admin, { ttlSeconds: -60 });
      const held = await open(target, { impersonator: { userId: admin, sessionId: first.session.id } });
      const last = await open(admin);
      const targetOwn = await open(target);
      await repository.revoke(revoked.session.id, 'logout');

      expect((await repository.listLiveForUser(admin)).map((s) => s.id)).toEqual([last.session.id, held.session.id, first.session.id]);
      expect((await repository.listLiveForUser(target)).map((s) => s.id)).toEqual([targetOwn.session.id, held.session.id]);
    });
  });

  describe('revoking', () => {
    it('revoke ends a live session once, with its reason, and the impersonations started from it', async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const { session } = await open(admin);
      const { session: impersonation } = await open(target, { impersonator: { userId: admin, sessionId: session.id } });
      const revoked = await repository.revoke(session.id, 'logout');
      expect(sorted(revoked)).toEqual(
        sorted([
          { sessionId: session.id, userId: admin, reason: 'logout' },
          { sessionId: impersonation.id, userId: target, reason: IMPERSONATOR_SESSION_ENDED },
        ]),
      );
      expect(await repository.findLive(impersonation.id, target)).toBeNull();
      expect(await repository.revoke(session.id, 'logout')).toEqual([]);
      expect(await repository.revoke('not-a-uuid', 'logout')).toEqual([]);
      expect(await repository.revoke(randomUUID(), 'logout')).toEqual([]);
    });

    it('revoke leaves an expired session alone', async () => {
      const userId = await h.givenUser();
      const { session } = await open(userId, { ttlSeconds: -60 });
      expect(await repository.revoke(session.id, 'logout')).toEqual([]);
    });

    it("revokeOwned ends the owner's session or an impersonation the owner holds, nobody else's", async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const { session: adminSession } = await open(admin);
      const { session: impersonation } = await open(target, { impersonator: { userId: admin, sessionId: adminSession.id } });
      const { session: targetOwn } = await open(target);

      expect(await repository.revokeOwned(targetOwn.id, admin, 'revoked_by_user')).toEqual([]);
      expect(await repository.revokeOwned('not-a-uuid', admin, 'revoked_by_user')).toEqual([]);
      expect(await repository.revokeOwned(impersonation.id, admin, 'revoked_by_user')).toEqual([
        { sessionId: impersonation.id, userId: target, reason: 'revoked_by_user' },
      ]);
      expect(await repository.findLive(adminSession.id, admin)).not.toBeNull();
      expect(await repository.revokeOwned(targetOwn.id, target, 'revoked_by_user')).toEqual([
        { sessionId: targetOwn.id, userId: target, reason: 'revoked_by_user' },
      ]);
    });

    it('revokeAllForUser ends all but the excepted session and the impersonations the user holds, in a transaction too', async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const { session: current } = await open(admin);
      const { session: other } = await open(admin);
      const { session: held } = await open(target, { impersonator: { userId: admin, sessionId: other.id } });
      const { session: targetOwn } = await open(target);

      const revoked = await h.transactions.run((tx) =>
        repository.revokeAllForUser(admin, { exceptSessionId: current.id, reason: 'password_changed' }, tx),
      );
      expect(sorted(revoked)).toEqual(
        sorted([
          { sessionId: other.id, userId: admin, reason: 'password_changed' },
          { sessionId: held.id, userId: target, reason: 'password_changed' },
        ]),
      );
      expect((await repository.listLiveForUser(admin)).map((s) => s.id)).toEqual([current.id]);
      expect(await repository.findLive(targetOwn.id, target)).not.toBeNull();

      expect(await repository.revokeAllForUser(admin, { reason: 'user_deactivated' })).toEqual([
        { sessionId: current.id, userId: admin, reason: 'user_deactivated' },
      ]);
      expect(await repository.revokeAllForUser(admin, { reason: 'user_deactivated' })).toEqual([]);
    });

    it('revokeImpersonationsBy ends only the impersonations the admin holds', async () => {
      const admin = await h.givenUser();
      const target = await h.givenUser();
      const { session: adminSession } = await open(admin);
      const { session: held } = await open(target, { impersonator: { userId: admin, sessionId: adminSession.id } });
      const { session: targetOwn } = await open(target);

      expect(await repository.revokeImpersonationsBy(admin, 'impersonator_demoted')).toEqual([
        { sessionId: held.id, userId: target, reason: 'impersonator_demoted' },
      ]);
      expect(await repository.findLive(adminSession.id, admin)).not.toBeNull();
      expect(await repository.findLive(targetOwn.id, target)).not.toBeNull();
    });
  });
}

function sorted<T extends { sessionId: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.sessionId.localeCompare(b.sessionId));
}
