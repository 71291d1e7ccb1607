import { Inject, Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { SESSION_REVOKED } from '../events/auth-changes.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { USER_CREDENTIALS_RESET, USER_DEACTIVATED, USER_ROLES_CHANGED, type DomainEvent } from '../events/events.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import type { Tx } from '../platform/database/transactions.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import type { PublicUser } from '../shared/access/auth-context.js';
import { normalizeIp, type ConnectionInfo } from '../shared/connection.js';
import { generateOpaqueToken, sha256Hex } from '../shared/crypto.js';
import { AppError, ErrorCode, notFound, unauthorized } from '../shared/errors/app-error.js';
import { RevocationFeed } from './revocation-feed.service.js';
import type { SessionEntity } from './session.entity.js';
import { SessionsRepository, type RevokedSession, type SessionAssurance } from './sessions.repository.js';

export interface IssuedSession {
  session: SessionEntity;
  refreshToken: string;
}

/** A refresh token exchanged: the session, its new refresh token, and the user to issue the access token for. */
export interface RotatedSession extends IssuedSession {
  user: PublicUser;
}

export interface PublicSession {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
  impersonatorId: string | null;
  /** For an impersonation session held by the caller: the user it acts as (null for the caller's own). */
  impersonatedUserId: string | null;
}

/** Sessions revoked inside a transaction, to announce once it has committed. */
export interface RevokedSessions {
  sessions: RevokedSession[];
}

/** Who asks to end sessions: the user, the session asking, and whether it is an impersonation. */
export interface SessionCaller {
  userId: string;
  sessionId: string;
  isImpersonated: boolean;
}

const impersonatedForbidden = (what: string): AppError => new AppError(ErrorCode.FORBIDDEN, `an impersonated session cannot ${what}`);

const invalidRefreshToken = (): AppError => new AppError(ErrorCode.INVALID_REFRESH_TOKEN, 'invalid refresh token');

@Injectable()
export class SessionsService {
  constructor(
    private readonly sessions: SessionsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly feed: RevocationFeed,
    private readonly domainEvents: DomainEvents,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Opens a session and its first refresh token, only if the user is still active and (for a
   * password login) still has the password hash that was just checked; an impersonation session needs
   * its admin's session live and never outlives it. Race-safe: see createWithRefreshToken(). Null
   * when refused.
   */
  async create(
    userId: string,
    opts: {
      ttl?: number;
      connection?: ConnectionInfo;
      impersonator?: { userId: string; sessionId: string };
      checkedPasswordHash?: string;
      assurance: SessionAssurance;
    },
  ): Promise<IssuedSession | null> {
    const { defaultTtl, maxTtl } = this.config.sessions;
    const ttl = Math.min(opts.ttl ?? defaultTtl, maxTtl);
    const refreshToken = generateOpaqueToken();
    const session = await this.sessions.createWithRefreshToken({
      userId,
      ip: normalizeIp(opts.connection?.ip),
      userAgent: opts.connection?.userAgent?.slice(0, 512) ?? null,
      ttlSeconds: ttl,
      refreshTokenHash: sha256Hex(refreshToken),
      checkedPasswordHash: opts.checkedPasswordHash,
      impersonator: opts.impersonator,
      assurance: opts.assurance,
    });
    return session ? { session, refreshToken } : null;
  }

  /**
   * Records that the caller's user just proved these factors on this session: `auth_time` now, the
   * factors added to its `amr`, and a new refresh token in place of the session's live one. Refused
   * (UNAUTHORIZED) when the session ended meanwhile or its user was deactivated.
   */
  async reauthenticate(caller: { userId: string; sessionId: string }, amr: string[]): Promise<RotatedSession> {
    const next = generateOpaqueToken();
    const done = await this.sessions.reauthenticate({
      sessionId: caller.sessionId,
      userId: caller.userId,
      amr,
      nextTokenHash: sha256Hex(next),
    });
    if (!done) throw unauthorized('session is no longer valid');
    return { session: done.session, user: done.user, refreshToken: next };
  }

  /**
   * Records a second factor just proven on the caller's session, inside the caller's transaction:
   * `auth_time` now, the factors added to its `amr`, `aal` raised. No new tokens: the access token
   * keeps its claims until the next refresh, which copies the session's values. False when the
   * session ended meanwhile, is an impersonation, or its user was deactivated.
   */
  async raiseAssuranceIn(tx: Tx, caller: { userId: string; sessionId: string }, proven: { amr: string[]; aal: 1 | 2 }): Promise<boolean> {
    const raised = await this.sessions.raiseAssurance({ sessionId: caller.sessionId, userId: caller.userId, ...proven }, tx);
    return raised !== null;
  }

  /**
   * Exchanges a refresh token for a new one, in one statement. At most one new token is ever minted
   * from one token, however many calls race. Refused (INVALID_REFRESH_TOKEN, or REFRESH_TOKEN_REUSED
   * with the session revoked) when the token cannot be rotated; a session of a deactivated user
   * (deactivation revokes them; one that slipped through ends here) is revoked and refused.
   */
  async rotateRefreshToken(refreshToken: string, connection?: ConnectionInfo): Promise<RotatedSession> {
    const next = generateOpaqueToken();
    const rotated = await this.sessions.rotateRefreshToken({
      tokenHash: sha256Hex(refreshToken),
      nextTokenHash: sha256Hex(next),
      ip: normalizeIp(connection?.ip),
      userAgent: connection?.userAgent?.slice(0, 512) ?? null,
    });
    if (!rotated) return this.refuseSpentToken(refreshToken);
    if (rotated.user.deactivated) {
      await this.revoke(rotated.session.id, 'user_deactivated');
      throw invalidRefreshToken();
    }
    return { session: rotated.session, user: rotated.user, refreshToken: next };
  }

  /**
   * Undoes a rotation whose answer could not be made, so that the presented token is not used up and
   * the client can simply retry. False when there was nothing to undo.
   */
  restoreRefreshToken(presentedToken: string, rotated: RotatedSession): Promise<boolean> {
    return this.sessions.restoreRefreshToken(sha256Hex(presentedToken), sha256Hex(rotated.refreshToken));
  }

  /** A token that could not be rotated (unknown, or already rotated out): refuse, and revoke on a late reuse. */
  private async refuseSpentToken(refreshToken: string): Promise<never> {
    const token = await this.sessions.findRefreshToken(sha256Hex(refreshToken), {
      reuseIntervalSeconds: this.config.sessions.refreshReuseInterval,
    });
    if (!token || !token.sessionLive || !token.rotated) throw invalidRefreshToken();
    // Within the interval this is most likely two tabs racing: refuse, keep the session.
    if (!token.rotatedBeforeInterval) throw invalidRefreshToken();
    // A rotated-out token presented late was probably stolen: end the whole session.
    await this.revoke(token.sessionId, 'refresh_token_reused');
    this.metrics.refreshTokenReused();
    throw new AppError(ErrorCode.REFRESH_TOKEN_REUSED, 'refresh token reuse detected; the session is revoked');
  }

  /** The session if it is live (not revoked, not expired) and belongs to the user. */
  findLive(sessionId: string, userId: string): Promise<SessionEntity | null> {
    return this.sessions.findLive(sessionId, userId);
  }

  /** The user's live sessions, and the impersonation sessions the user holds as an admin. */
  async listLive(userId: string, currentSessionId?: string): Promise<PublicSession[]> {
    const sessions = await this.sessions.listLiveForUser(userId);
    return sessions.map((s) => toPublicSession(s, userId, currentSessionId));
  }

  /** Revokes one session; true when it was live. */
  async revoke(sessionId: string, reason: string): Promise<boolean> {
    const revoked = await this.announced(this.sessions.revoke(sessionId, reason));
    return revoked.length > 0;
  }

  /** Revokes one live session by id (trusted callers); NOT_FOUND when unknown or already ended. */
  async revokeExisting(sessionId: string, reason: string): Promise<void> {
    if (!(await this.revoke(sessionId, reason))) throw notFound('session not found or already ended');
  }

  /**
   * Revokes a session of the caller, or an impersonation session the caller holds; NOT_FOUND when it
   * is neither (or unknown, or already ended). An impersonated caller may end only its own session.
   */
  async revokeOwn(caller: SessionCaller, sessionId: string): Promise<void> {
    if (caller.isImpersonated && sessionId !== caller.sessionId) throw impersonatedForbidden("end the user's other sessions");
    const revoked = await this.announced(this.sessions.revokeOwned(sessionId, caller.userId, 'revoked_by_user'));
    if (revoked.length === 0) throw notFound('session not found');
  }

  /** Every other session of the caller ends, and so does every impersonation the caller holds. */
  async revokeOthers(caller: SessionCaller): Promise<void> {
    if (caller.isImpersonated) throw impersonatedForbidden("end the user's other sessions");
    await this.revokeAllForUser(caller.userId, { exceptSessionId: caller.sessionId, reason: 'revoked_by_user' });
  }

  /** The user's sessions (but the one excepted) and the impersonation sessions the user holds. */
  async revokeAllForUser(userId: string, opts: { exceptSessionId?: string; reason: string }): Promise<number> {
    const revoked = await this.announced(this.sessions.revokeAllForUser(userId, opts));
    return revoked.length;
  }

  /**
   * A deactivated user's sessions all end at once (awaited by the deactivating call), and so do the
   * sessions they opened by impersonating others.
   */
  @OnEvent(USER_DEACTIVATED, { promisify: true })
  async onUserDeactivated(event: DomainEvent): Promise<void> {
    if (!event.userId) return;
    await this.revokeAllForUser(event.userId, { reason: 'user_deactivated' });
  }

  @OnEvent(USER_CREDENTIALS_RESET, { promisify: true })
  async onCredentialsReset(event: { userId: string }): Promise<void> {
    await this.revokeAllForUser(event.userId, { reason: 'credentials_reset' });
  }

  /** An admin who is no longer one keeps no impersonation session. */
  @OnEvent(USER_ROLES_CHANGED, { promisify: true })
  async onRolesChanged(event: { userId: string; roles: string[] }): Promise<void> {
    if (event.roles.includes('admin')) return;
    await this.announced(this.sessions.revokeImpersonationsBy(event.userId, 'impersonator_demoted'));
  }

  /**
   * The same, inside the caller's transaction. The caller hands the result to announceRevoked()
   * once the transaction has committed (before that, other connections still see the sessions live).
   */
  async revokeAllForUserIn(tx: Tx, userId: string, opts: { exceptSessionId?: string; reason: string }): Promise<RevokedSessions> {
    return { sessions: await this.sessions.revokeAllForUser(userId, opts, tx) };
  }

  /** Publishes session.revoked for each, and waits until the revocations are announced back. */
  async announceRevoked(revoked: RevokedSessions): Promise<void> {
    for (const s of revoked.sessions)
      this.domainEvents.publish(SESSION_REVOKED, { userId: s.userId, sessionId: s.sessionId, reason: s.reason });
    await this.feed.awaitDelivery(revoked.sessions.map((s) => `session:${s.sessionId}`));
  }

  /** Revocations outside a transaction are committed when they return: announce them at once. */
  private async announced(revoking: Promise<RevokedSession[]>): Promise<RevokedSession[]> {
    const sessions = await revoking;
    await this.announceRevoked({ sessions });
    return sessions;
  }
}

function toPublicSession(s: SessionEntity, viewerId: string, currentSessionId?: string): PublicSession {
  return {
    id: s.id,
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    ip: s.ip,
    userAgent: s.userAgent,
    current: s.id === currentSessionId,
    impersonatorId: s.impersonatorId,
    impersonatedUserId: s.userId === viewerId ? null : s.userId,
  };
}
