import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, IsNull, MoreThan, Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { AppError, ErrorCode, notFound } from '../shared/errors/app-error.js';
import { generateOpaqueToken, sha256Hex, UUID_PATTERN } from '../shared/crypto.js';
import { AUTH_CHANGES_CHANNEL, SESSION_REVOKED } from '../events/auth-changes.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { type DomainEvent, USER_CREDENTIALS_RESET, USER_DEACTIVATED, USER_ROLES_CHANGED } from '../events/events.js';
import { OnEvent } from '@nestjs/event-emitter';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { RevocationFeed } from './revocation-feed.service.js';
import { SessionEntity } from './session.entity.js';
import { type ConnectionInfo, normalizeIp } from '../shared/connection.js';

export interface IssuedSession {
  session: SessionEntity;
  refreshToken: string;
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


interface SessionRow {
  id: string;
  user_id: string;
  ip: string | null;
  user_agent: string | null;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoke_reason: string | null;
  impersonator_id: string | null;
  impersonator_session_id: string | null;
}

function fromRow(row: SessionRow): Partial<SessionEntity> {
  return {
    id: row.id,
    userId: row.user_id,
    ip: row.ip,
    userAgent: row.user_agent,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    revokeReason: row.revoke_reason,
    impersonatorId: row.impersonator_id,
    impersonatorSessionId: row.impersonator_session_id,
  };
}

interface RevokedRow {
  id: string;
  user_id: string;
  /** Why, when it differs from the revocation's reason (an impersonation ended with its admin's session). */
  reason?: string;
}

/** Sessions revoked inside a transaction, to announce once it has committed. */
export interface RevokedSessions {
  rows: RevokedRow[];
  reason: string;
}

/** Who asks to end sessions: the user, the session asking, and whether it is an impersonation. */
export interface SessionCaller {
  userId: string;
  sessionId: string;
  isImpersonated: boolean;
}

/** A user's sessions ($1; all but $3 when given) and the impersonation sessions the user holds as an admin. */
const ALL_FOR_USER = `((user_id = $1 AND ($3::uuid IS NULL OR id <> $3::uuid)) OR impersonator_id = $1)`;

const IMPERSONATOR_SESSION_ENDED = 'impersonator_session_ended';

const impersonatedForbidden = (what: string): AppError => new AppError(ErrorCode.FORBIDDEN, `an impersonated session cannot ${what}`);

const invalidRefreshToken = (): AppError => new AppError(ErrorCode.INVALID_REFRESH_TOKEN, 'invalid refresh token');

@Injectable()
export class SessionsService {
  constructor(
    @InjectRepository(SessionEntity) private readonly sessions: Repository<SessionEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly feed: RevocationFeed,
    private readonly domainEvents: DomainEvents,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Opens a session and its first refresh token in one statement, only if the user is still active
   * and (for a password login) still has the password hash that was just checked. The user row is
   * share-locked, so a concurrent password reset or deactivation either waits for this session (and
   * then revokes it) or has already committed (and this login is refused): a login racing a reset
   * never outlives it. An impersonation session needs its admin's session live (share-locked, so a
   * logout racing it either waits and then ends it, or has ended it already) and never outlives it.
   * Null when refused.
   */
  async create(
    userId: string,
    opts: { ttl?: number; connection?: ConnectionInfo; impersonator?: { userId: string; sessionId: string }; checkedPasswordHash?: string },
  ): Promise<IssuedSession | null> {
    const { defaultTtl, maxTtl } = this.config.sessions;
    const ttl = Math.min(opts.ttl ?? defaultTtl, maxTtl);
    const refreshToken = generateOpaqueToken();
    const rows: SessionRow[] = await this.dataSource.query(
      `WITH u AS (
         SELECT id FROM users WHERE id = $1 AND deactivated_at IS NULL AND ($7::text IS NULL OR password_hash = $7) FOR SHARE),
       origin AS (
         SELECT expires_at FROM sessions WHERE id = $8 AND revoked_at IS NULL AND expires_at > now() FOR SHARE),
       s AS (
         INSERT INTO sessions (user_id, ip, user_agent, expires_at, impersonator_id, impersonator_session_id)
         SELECT u.id, $2, $3, least(now() + make_interval(secs => $4), (SELECT expires_at FROM origin)), $5, $8 FROM u
          WHERE $8::uuid IS NULL OR EXISTS (SELECT 1 FROM origin)
         RETURNING *),
       t AS (INSERT INTO refresh_tokens (token_hash, session_id) SELECT $6, id FROM s)
       SELECT * FROM s`,
      [
        userId,
        normalizeIp(opts.connection?.ip),
        opts.connection?.userAgent?.slice(0, 512) ?? null,
        ttl,
        opts.impersonator?.userId ?? null,
        sha256Hex(refreshToken),
        opts.checkedPasswordHash ?? null,
        opts.impersonator?.sessionId ?? null,
      ],
    );
    return rows[0] ? { session: this.sessions.create(fromRow(rows[0])), refreshToken } : null;
  }

  /**
   * Exchanges a refresh token for a new one, in one statement, inside the caller's transaction (so
   * that if issuing the new access token fails, the old refresh token is not used up). Claiming the
   * old token is a conditional UPDATE: of any number of concurrent calls with one token, exactly one
   * sees `rotated_at IS NULL` (the others wait on its row lock, then see it set), so at most one new
   * token is ever minted from it. Null when the token cannot be rotated: see refuseSpentToken().
   */
  async rotateRefreshToken(em: EntityManager, refreshToken: string, connection?: ConnectionInfo): Promise<IssuedSession | null> {
    const next = generateOpaqueToken();
    const rows: SessionRow[] = await em.query(
      `WITH claimed AS (
         UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id),
       s AS (
         UPDATE sessions SET last_used_at = now(), ip = coalesce($3, sessions.ip), user_agent = coalesce($4, sessions.user_agent)
           FROM claimed
          WHERE sessions.id = claimed.session_id AND sessions.revoked_at IS NULL AND sessions.expires_at > now()
          RETURNING sessions.*),
       t AS (INSERT INTO refresh_tokens (token_hash, session_id) SELECT $2, id FROM s)
       SELECT * FROM s`,
      [sha256Hex(refreshToken), sha256Hex(next), normalizeIp(connection?.ip), connection?.userAgent?.slice(0, 512) ?? null],
    );
    return rows[0] ? { session: this.sessions.create(fromRow(rows[0])), refreshToken: next } : null;
  }

  /** A token that could not be rotated (unknown, or already rotated out): refuse, and revoke on a late reuse. */
  async refuseSpentToken(refreshToken: string): Promise<never> {
    const tokenHash = sha256Hex(refreshToken);
    const rows: Array<{ session_id: string; user_id: string; rotated_at: Date | null; reused_late: boolean; live: boolean }> =
      await this.dataSource.query(
        `SELECT rt.session_id, s.user_id, rt.rotated_at,
                rt.rotated_at < now() - make_interval(secs => $2) AS reused_late,
                (s.revoked_at IS NULL AND s.expires_at > now()) AS live
           FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
          WHERE rt.token_hash = $1`,
        [tokenHash, this.config.sessions.refreshReuseInterval],
      );
    const row = rows[0];
    if (!row || !row.live || !row.rotated_at) throw invalidRefreshToken();
    // Within the interval this is most likely two tabs racing: refuse, keep the session.
    if (!row.reused_late) throw invalidRefreshToken();
    // A rotated-out token presented late was probably stolen: end the whole session.
    await this.revoke(row.session_id, 'refresh_token_reused');
    this.metrics.refreshTokenReused();
    throw new AppError(ErrorCode.REFRESH_TOKEN_REUSED, 'refresh token reuse detected; the session is revoked');
  }

  /** The session if it is live (not revoked, not expired) and belongs to the user. */
  findLive(sessionId: string, userId: string): Promise<SessionEntity | null> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve(null);
    return this.sessions.findOneBy({ id: sessionId, userId, revokedAt: IsNull(), expiresAt: MoreThan(new Date()) });
  }

  /** The user's live sessions, and the impersonation sessions the user holds as an admin. */
  async listLive(userId: string, currentSessionId?: string): Promise<PublicSession[]> {
    const live = { revokedAt: IsNull(), expiresAt: MoreThan(new Date()) };
    const rows = await this.sessions.find({ where: [{ userId, ...live }, { impersonatorId: userId, ...live }], order: { createdAt: 'DESC' } });
    return rows.map((s) => toPublicSession(s, userId, currentSessionId));
  }

  /** Revokes one session; true when it was live. */
  async revoke(sessionId: string, reason: string): Promise<boolean> {
    if (!UUID_PATTERN.test(sessionId)) return false;
    const rows = await this.revokeWhere(`id = $1 AND expires_at > now()`, [sessionId, reason]);
    return rows.length > 0;
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
    if (caller.isImpersonated && sessionId !== caller.sessionId) throw impersonatedForbidden('end the user\'s other sessions');
    if (!UUID_PATTERN.test(sessionId)) throw notFound('session not found');
    const rows = await this.revokeWhere(`id = $1 AND (user_id = $3 OR impersonator_id = $3) AND expires_at > now()`, [sessionId, 'revoked_by_user', caller.userId]);
    if (rows.length === 0) throw notFound('session not found');
  }

  /** Every other session of the caller ends, and so does every impersonation the caller holds. */
  async revokeOthers(caller: SessionCaller): Promise<void> {
    if (caller.isImpersonated) throw impersonatedForbidden('end the user\'s other sessions');
    await this.revokeAllForUser(caller.userId, { exceptSessionId: caller.sessionId, reason: 'revoked_by_user' });
  }

  /** The user's sessions (but the one excepted) and the impersonation sessions the user holds. */
  async revokeAllForUser(userId: string, opts: { exceptSessionId?: string; reason: string }): Promise<number> {
    const rows = await this.revokeWhere(ALL_FOR_USER, [userId, opts.reason, opts.exceptSessionId ?? null]);
    return rows.length;
  }

  /**
   * A deactivated user's sessions all end at once (awaited by the deactivating call), and so do the
   * sessions they opened by impersonating others.
   */
  @OnEvent(USER_DEACTIVATED, { promisify: true })
  async onUserDeactivated(event: DomainEvent): Promise<void> {
    if (!event.userId) return;
    await this.revokeWhere(`(user_id = $1 OR impersonator_id = $1)`, [event.userId, 'user_deactivated']);
  }

  @OnEvent(USER_CREDENTIALS_RESET, { promisify: true })
  async onCredentialsReset(event: { userId: string }): Promise<void> {
    await this.revokeAllForUser(event.userId, { reason: 'credentials_reset' });
  }

  /** An admin who is no longer one keeps no impersonation session. */
  @OnEvent(USER_ROLES_CHANGED, { promisify: true })
  async onRolesChanged(event: { userId: string; roles: string[] }): Promise<void> {
    if (event.roles.includes('admin')) return;
    await this.revokeWhere(`impersonator_id = $1`, [event.userId, 'impersonator_demoted']);
  }

  /**
   * The same, inside the caller's transaction. The caller hands the result to announceRevoked()
   * once the transaction has committed (before that, other connections still see the sessions live).
   */
  revokeAllForUserIn(em: EntityManager, userId: string, opts: { exceptSessionId?: string; reason: string }): Promise<RevokedSessions> {
    return this.revokeWhereIn(em, ALL_FOR_USER, [userId, opts.reason, opts.exceptSessionId ?? null])
      .then((rows) => ({ rows, reason: opts.reason }));
  }

  async announceRevoked(revoked: RevokedSessions): Promise<void> {
    this.emitRevoked(revoked.rows, revoked.reason);
    await this.feed.awaitDelivery(revoked.rows.map((r) => `session:${r.id}`));
  }

  /**
   * Revokes the live sessions matching `where` ($2 is the reason). The same statement notifies every
   * instance, so a committed revocation can never go unannounced to their caches.
   */
  private async revokeWhere(where: string, params: unknown[]): Promise<RevokedRow[]> {
    const rows = await this.revokeWhereIn(this.dataSource.manager, where, params);
    await this.announceRevoked({ rows, reason: String(params[1]) });
    return rows;
  }

  /**
   * The impersonation sessions started from a revoked session end with it, in the same statement
   * (an impersonation session never starts another, so one level is all there is).
   */
  private revokeWhereIn(em: EntityManager, where: string, params: unknown[]): Promise<RevokedRow[]> {
    return em.query(
      `WITH revoked AS (
         UPDATE sessions SET revoked_at = now(), revoke_reason = $2
          WHERE revoked_at IS NULL AND ${where}
          RETURNING id, user_id),
       cascaded AS (
         UPDATE sessions SET revoked_at = now(), revoke_reason = '${IMPERSONATOR_SESSION_ENDED}'
          WHERE revoked_at IS NULL AND impersonator_session_id IN (SELECT id FROM revoked) AND id NOT IN (SELECT id FROM revoked)
          RETURNING id, user_id)
       SELECT id, user_id, NULL AS reason, pg_notify('${AUTH_CHANGES_CHANNEL}', 'session:' || id) FROM revoked
       UNION ALL
       SELECT id, user_id, '${IMPERSONATOR_SESSION_ENDED}', pg_notify('${AUTH_CHANGES_CHANNEL}', 'session:' || id) FROM cascaded`,
      params,
    );
  }

  private emitRevoked(rows: RevokedRow[], reason: string): void {
    for (const row of rows) this.domainEvents.publish(SESSION_REVOKED, { userId: row.user_id, sessionId: row.id, reason: row.reason ?? reason });
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

