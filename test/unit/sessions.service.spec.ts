import { EventEmitter2 } from '@nestjs/event-emitter';

import { SESSION_REVOKED, type SessionRevokedEvent } from '../../src/events/auth-changes';
import { DomainEvents } from '../../src/events/domain-events.service';
import { USER_DEACTIVATED } from '../../src/events/events';
import type { AppConfig } from '../../src/platform/config/app-config';
import { MetricsService } from '../../src/platform/observability/metrics/metrics.service';
import type { RevocationFeed } from '../../src/sessions/revocation-feed.service';
import type { SessionAssurance } from '../../src/sessions/sessions.repository';
import { SessionsService } from '../../src/sessions/sessions.service';
import { sha256Hex } from '../../src/shared/crypto';
import { ErrorCode } from '../../src/shared/errors/app-error';
import { InMemorySessionsRepository } from '../fakes/sessions.repository.fake';
import { InMemoryTransactions } from '../fakes/transactions.fake';

class RecordingFeed {
  readonly awaited: string[][] = [];

  awaitDelivery(keys: string[]): Promise<void> {
    this.awaited.push(keys);
    return Promise.resolve();
  }
}

describe('SessionsService', () => {
  let repository: InMemorySessionsRepository;
  let feed: RecordingFeed;
  let metrics: MetricsService;
  let emitter: EventEmitter2;
  let revokedEvents: Array<Pick<SessionRevokedEvent, 'userId' | 'sessionId' | 'reason'>>;
  let service: SessionsService;
  const sessionsConfig = { defaultTtl: 600, maxTtl: 900, refreshReuseInterval: 3600 };

  const build = (): SessionsService =>
    new SessionsService(
      repository,
      { sessions: sessionsConfig } as AppConfig,
      feed as unknown as RevocationFeed,
      new DomainEvents(emitter),
      metrics,
    );

  beforeEach(() => {
    repository = new InMemorySessionsRepository();
    feed = new RecordingFeed();
    metrics = new MetricsService();
    emitter = new EventEmitter2();
    revokedEvents = [];
    emitter.on(SESSION_REVOKED, ({ userId, sessionId, reason }: SessionRevokedEvent) => revokedEvents.push({ userId, sessionId, reason }));
    sessionsConfig.refreshReuseInterval = 3600;
    service = build();
  });

  const PWD: SessionAssurance = { amr: ['pwd'], aal: 1 };
  const login = async (userId: string, opts: Partial<Parameters<SessionsService['create']>[1]> = {}) => {
    const issued = await service.create(userId, { assurance: PWD, ...opts });
    if (!issued) throw new Error('refused');
    return issued;
  };

  const codeOf = (promise: Promise<unknown>): Promise<unknown> =>
    promise.then(
      () => 'resolved',
      (error: { code?: string }) => error.code,
    );

  describe('create', () => {
    it('stores only the hash of the refresh token it hands out, and where the call came from', async () => {
      const userId = repository.givenUser();
      const { session, refreshToken } = await login(userId, { connection: { ip: '::ffff:10.1.2.3', userAgent: 'x'.repeat(600) } });
      expect(repository.tokenHashesOf(session.id)).toEqual([sha256Hex(refreshToken)]);
      expect(session.ip).toBe('10.1.2.3');
      expect(session.userAgent).toBe('x'.repeat(512));
    });

    it('uses the default lifetime, and never more than the maximum', async () => {
      const userId = repository.givenUser();
      const lifetime = async (ttl?: number) => {
        const { session } = await login(userId, { ttl });
        return (session.expiresAt.getTime() - session.createdAt.getTime()) / 1000;
      };
      expect(await lifetime()).toBe(600);
      expect(await lifetime(60)).toBe(60);
      expect(await lifetime(100_000)).toBe(900);
    });

    it('is refused for a deactivated user, or a password that changed since it was checked', async () => {
      expect(await service.create(repository.givenUser({ deactivated: true }), { assurance: PWD })).toBeNull();
      expect(
        await service.create(repository.givenUser({ passwordHash: 'new' }), { checkedPasswordHash: 'old', assurance: PWD }),
      ).toBeNull();
    });
  });

  describe('refresh tokens', () => {
    it('rotate once: the new token rotates next, the old one no more; the user comes along', async () => {
      const userId = repository.givenUser({ email: 'rotating@example.com', roles: ['user', 'auditor'] });
      const { session, refreshToken } = await login(userId);
      const rotated = await service.rotateRefreshToken(refreshToken, { ip: '::ffff:10.9.9.9' });
      expect(rotated.session).toMatchObject({ id: session.id, ip: '10.9.9.9' });
      expect(rotated.user).toMatchObject({ id: userId, email: 'rotating@example.com', roles: ['user', 'auditor'], deactivated: false });
      expect(rotated.refreshToken).not.toBe(refreshToken);
      expect(repository.tokenHashesOf(session.id)).toEqual([sha256Hex(refreshToken), sha256Hex(rotated.refreshToken)]);
      expect(await codeOf(service.rotateRefreshToken(refreshToken))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
      expect(await service.rotateRefreshToken(rotated.refreshToken)).toMatchObject({ session: { id: session.id } });
    });

    it('refuse an unknown token, and a token reused within the interval without ending the session', async () => {
      const userId = repository.givenUser();
      const { session, refreshToken } = await login(userId);
      expect(await codeOf(service.rotateRefreshToken('unknown'))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
      await service.rotateRefreshToken(refreshToken);
      expect(await codeOf(service.rotateRefreshToken(refreshToken))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
      expect(await repository.findLive(session.id, userId)).not.toBeNull();
      expect(revokedEvents).toEqual([]);
    });

    it('end the session when a rotated-out token comes back after the interval, and count it', async () => {
      sessionsConfig.refreshReuseInterval = 0;
      const userId = repository.givenUser();
      const { session, refreshToken } = await login(userId);
      await service.rotateRefreshToken(refreshToken);
      expect(await codeOf(service.rotateRefreshToken(refreshToken))).toBe(ErrorCode.REFRESH_TOKEN_REUSED);
      expect(repository.all()).toEqual([expect.objectContaining({ id: session.id, revokeReason: 'refresh_token_reused' })]);
      expect(revokedEvents).toEqual([{ userId, sessionId: session.id, reason: 'refresh_token_reused' }]);
      expect(await metrics.render()).toContain('gatehouse_refresh_token_reuse_detections_total 1');
      // Once the session has ended, the same token is just invalid.
      expect(await codeOf(service.rotateRefreshToken(refreshToken))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
    });

    it("end a deactivated user's session that slipped through, announce it, and issue nothing", async () => {
      const target = repository.givenUser();
      const userId = repository.givenUser();
      const { session, refreshToken } = await login(userId);
      const { session: targetOwn } = await login(target);
      const { session: impersonation } = await login(target, { impersonator: { userId, sessionId: session.id } });
      repository.deactivateUser(userId);
      expect(await codeOf(service.rotateRefreshToken(refreshToken))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
      expect(repository.tokenHashesOf(session.id)).toEqual([sha256Hex(refreshToken)]);
      expect(byId(revokedEvents)).toEqual(
        byId([
          { userId, sessionId: session.id, reason: 'user_deactivated' },
          { userId: target, sessionId: impersonation.id, reason: 'impersonator_session_ended' },
        ]),
      );
      expect(feed.awaited.map((keys) => [...keys].sort())).toEqual([[`session:${session.id}`, `session:${impersonation.id}`].sort()]);
      expect(await repository.findLive(targetOwn.id, target)).not.toBeNull();
    });

    it('restore a rotation whose answer could not be made: the presented token works again, the new one not', async () => {
      const userId = repository.givenUser();
      const { session, refreshToken } = await login(userId);
      const rotated = await service.rotateRefreshToken(refreshToken);
      expect(await service.restoreRefreshToken(refreshToken, rotated)).toBe(true);
      expect(repository.tokenHashesOf(session.id)).toEqual([sha256Hex(refreshToken)]);
      expect(await codeOf(service.rotateRefreshToken(rotated.refreshToken))).toBe(ErrorCode.INVALID_REFRESH_TOKEN);
      expect(await service.rotateRefreshToken(refreshToken)).toMatchObject({ session: { id: session.id } });
    });
  });

  describe('ending sessions', () => {
    it('announces each revocation and waits for its delivery', async () => {
      const userId = repository.givenUser();
      const { session } = await login(userId);
      expect(await service.revoke(session.id, 'logout')).toBe(true);
      expect(revokedEvents).toEqual([{ userId, sessionId: session.id, reason: 'logout' }]);
      expect(feed.awaited).toEqual([[`session:${session.id}`]]);
      expect(await service.revoke(session.id, 'logout')).toBe(false);
      expect(await codeOf(service.revokeExisting(session.id, 'revoked_by_service'))).toBe(ErrorCode.NOT_FOUND);
    });

    it('let the caller end an own session or a held impersonation, and nothing else', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session: adminSession } = await login(admin);
      const { session: held } = await login(target, { impersonator: { userId: admin, sessionId: adminSession.id } });
      const { session: targetOwn } = await login(target);
      const caller = { userId: admin, sessionId: adminSession.id, isImpersonated: false };

      expect(await codeOf(service.revokeOwn(caller, targetOwn.id))).toBe(ErrorCode.NOT_FOUND);
      expect(await codeOf(service.revokeOwn(caller, 'not-a-uuid'))).toBe(ErrorCode.NOT_FOUND);
      await service.revokeOwn(caller, held.id);
      expect(revokedEvents).toEqual([{ userId: target, sessionId: held.id, reason: 'revoked_by_user' }]);
    });

    it('let an impersonated session end only itself', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session: adminSession } = await login(admin);
      const { session: held } = await login(target, { impersonator: { userId: admin, sessionId: adminSession.id } });
      const { session: targetOwn } = await login(target);
      const impersonated = { userId: target, sessionId: held.id, isImpersonated: true };

      expect(await codeOf(service.revokeOwn(impersonated, targetOwn.id))).toBe(ErrorCode.FORBIDDEN);
      expect(await codeOf(service.revokeOthers(impersonated))).toBe(ErrorCode.FORBIDDEN);
      expect(revokedEvents).toEqual([]);
      await service.revokeOwn(impersonated, held.id);
      expect(revokedEvents).toEqual([{ userId: target, sessionId: held.id, reason: 'revoked_by_user' }]);
    });

    it('end every other session of the caller and the impersonations the caller holds', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session: current } = await login(admin);
      const { session: other } = await login(admin);
      const { session: held } = await login(target, { impersonator: { userId: admin, sessionId: current.id } });

      await service.revokeOthers({ userId: admin, sessionId: current.id, isImpersonated: false });
      expect(byId(revokedEvents)).toEqual(
        byId([
          { userId: admin, sessionId: other.id, reason: 'revoked_by_user' },
          { userId: target, sessionId: held.id, reason: 'revoked_by_user' },
        ]),
      );
      expect((await service.listLive(admin, current.id)).map((s) => [s.id, s.current])).toEqual([[current.id, true]]);
    });

    it('announce sessions revoked in a transaction only when handed back', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session } = await login(admin);
      const { session: impersonation } = await login(target, { impersonator: { userId: admin, sessionId: session.id } });
      const revoked = await new InMemoryTransactions().run((tx) => service.revokeAllForUserIn(tx, admin, { reason: 'password_reset' }));
      expect(revokedEvents).toEqual([]);
      expect(feed.awaited).toEqual([]);
      await service.announceRevoked(revoked);
      expect(byId(revokedEvents)).toEqual(
        byId([
          { userId: admin, sessionId: session.id, reason: 'password_reset' },
          { userId: target, sessionId: impersonation.id, reason: 'password_reset' },
        ]),
      );
      expect(feed.awaited.map((keys) => [...keys].sort())).toEqual([[`session:${session.id}`, `session:${impersonation.id}`].sort()]);
    });
  });

  describe('on domain events', () => {
    it('a deactivated user loses every session, and the impersonations the user started', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session } = await login(admin);
      const { session: impersonation } = await login(target, { impersonator: { userId: admin, sessionId: session.id } });
      const { session: targetOwn } = await login(target);
      await service.onUserDeactivated({ type: USER_DEACTIVATED, at: new Date().toISOString(), userId: admin });
      expect(byId(revokedEvents)).toEqual(
        byId([
          { userId: admin, sessionId: session.id, reason: 'user_deactivated' },
          { userId: target, sessionId: impersonation.id, reason: 'user_deactivated' },
        ]),
      );
      expect(await repository.findLive(targetOwn.id, target)).not.toBeNull();
    });

    it('an admin who is demoted keeps own sessions and loses the impersonations', async () => {
      const admin = repository.givenUser();
      const target = repository.givenUser();
      const { session } = await login(admin);
      const { session: impersonation } = await login(target, { impersonator: { userId: admin, sessionId: session.id } });
      await service.onRolesChanged({ userId: admin, roles: ['admin', 'user'] });
      expect(revokedEvents).toEqual([]);
      await service.onRolesChanged({ userId: admin, roles: ['user'] });
      expect(revokedEvents).toEqual([{ userId: target, sessionId: impersonation.id, reason: 'impersonator_demoted' }]);
      expect(await repository.findLive(session.id, admin)).not.toBeNull();
    });
  });

  it('lists live sessions in the public shape, marking the current one and impersonations held', async () => {
    const admin = repository.givenUser();
    const target = repository.givenUser();
    const { session } = await login(admin, { connection: { ip: '10.0.0.1', userAgent: 'agent/1' } });
    const { session: held } = await login(target, { impersonator: { userId: admin, sessionId: session.id } });
    expect(await service.listLive(admin, session.id)).toEqual([
      {
        id: held.id,
        createdAt: held.createdAt.toISOString(),
        lastUsedAt: held.lastUsedAt.toISOString(),
        expiresAt: held.expiresAt.toISOString(),
        ip: null,
        userAgent: null,
        current: false,
        impersonatorId: admin,
        impersonatedUserId: target,
      },
      {
        id: session.id,
        createdAt: session.createdAt.toISOString(),
        lastUsedAt: session.lastUsedAt.toISOString(),
        expiresAt: session.expiresAt.toISOString(),
        ip: '10.0.0.1',
        userAgent: 'agent/1',
        current: true,
        impersonatorId: null,
        impersonatedUserId: null,
      },
    ]);
  });
});

function byId<T extends { sessionId: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => a.sessionId.localeCompare(b.sessionId));
}
