import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull, MoreThan } from 'typeorm';

import { AUTH_CHANGES_CHANNEL } from '../events/auth-changes.js';
import { preparedQuery, updateReturning } from '../platform/database/sql.js';
import type { Tx } from '../platform/database/transactions.js';
import type { PublicUser } from '../shared/access/auth-context.js';
import { UUID_PATTERN } from '../shared/crypto.js';
import { SessionEntity } from './session.entity.js';

/** A session to open with its first refresh token; values are stored as given (already normalised). */
export interface NewSession {
  userId: string;
  ip: string | null;
  userAgent: string | null;
  ttlSeconds: number;
  refreshTokenHash: string;
  /** For a password login: refused unless the user still has this password hash. */
  checkedPasswordHash?: string;
  /** For an impersonation: refused unless this session of the admin is live; never outlives it. */
  impersonator?: { userId: string; sessionId: string };
  /** How the user authenticated; `auth_time` is the statement's time. */
  assurance: SessionAssurance;
}

/** How a session's user authenticated: RFC 8176 `amr` values and the assurance level. */
export interface SessionAssurance {
  amr: string[];
  aal: 1 | 2;
}

export interface RefreshTokenRotation {
  tokenHash: string;
  nextTokenHash: string;
  /** Replace what the session records when given (null keeps the recorded value). */
  ip: string | null;
  userAgent: string | null;
}

/**
 * A claimed refresh token: its session, touched, and the session's user as the new access token and
 * the answer show it. The new token was recorded only if the user is active.
 */
export interface RotatedRefreshToken {
  session: SessionEntity;
  user: PublicUser;
}

export interface SessionReauthentication {
  sessionId: string;
  userId: string;
  /** The factors just proven (RFC 8176 values), added to the session's. */
  amr: string[];
  nextTokenHash: string;
}

/** A second factor just proven on a session, raising its assurance without a new token pair. */
export interface SessionAssuranceRaise {
  sessionId: string;
  userId: string;
  /** The factors just proven (RFC 8176 values), added to the session's. */
  amr: string[];
  /** The level the session reaches; never lowered. */
  aal: 1 | 2;
}

/** What is known of a refresh token that could not be rotated. */
export interface RefreshTokenState {
  sessionId: string;
  userId: string;
  rotated: boolean;
  /** Rotated out longer ago than the reuse interval asked about. */
  rotatedBeforeInterval: boolean;
  sessionLive: boolean;
}

export interface RevokedSession {
  sessionId: string;
  userId: string;
  /** The revocation's reason, or IMPERSONATOR_SESSION_ENDED for an impersonation that ended with it. */
  reason: string;
}

export const IMPERSONATOR_SESSION_ENDED = 'impersonator_session_ended';

/**
 * Sessions and their refresh tokens. Every revoking method also ends the live impersonation sessions
 * started from a session it ends, and announces each ended session to every instance by the same
 * statement (see RevocationFeed). A malformed session id is simply not found. Methods taking an
 * optional `tx` run in it when given.
 */
export abstract class SessionsRepository {
  /**
   * Opens a session and its first refresh token, only if the user is active (and, when given, still
   * has the checked password hash, and the impersonator's session is live). Null when refused.
   */
  abstract createWithRefreshToken(session: NewSession): Promise<SessionEntity | null>;

  /**
   * Claims an unrotated refresh token of a live session, marks the session used and, if its user is
   * active, records the new token. At most one of any number of concurrent calls with one token
   * claims it; null for the others, and for an unknown token or one of a session no longer live.
   * A claimed token of a deactivated user's session gets no successor (`user.deactivated`).
   */
  abstract rotateRefreshToken(rotation: RefreshTokenRotation): Promise<RotatedRefreshToken | null>;

  /**
   * Undoes a rotation whose answer could not be made: forgets the new token, if never used, and makes
   * the old one unrotated again. False when there was nothing to undo.
   */
  abstract restoreRefreshToken(tokenHash: string, nextTokenHash: string): Promise<boolean>;

  /**
   * Records a fresh proof of a factor on a live session of an active user: `auth_time` now, the
   * factors added to its `amr`, every unrotated refresh token of the session rotated out and the new
   * one recorded (the answer carries a new pair). Null when the session is not live, not the user's,
   * or the user is deactivated.
   */
  abstract reauthenticate(reauth: SessionReauthentication): Promise<RotatedRefreshToken | null>;

  /**
   * Records a second factor proven on a live session of an active user: `auth_time` now, the factors
   * added to its `amr`, `aal` raised to the level given (never lowered). Its refresh tokens stay as
   * they are: the next refresh copies the new values into the access token. An impersonation is never
   * raised (it proved no factor of the user's). Null when the session is not live, not the user's, an
   * impersonation, or the user is deactivated.
   */
  abstract raiseAssurance(raise: SessionAssuranceRaise, tx?: Tx): Promise<SessionEntity | null>;

  abstract findRefreshToken(tokenHash: string, opts: { reuseIntervalSeconds: number }): Promise<RefreshTokenState | null>;

  /** The session if it is live (not revoked, not expired) and belongs to the user. */
  abstract findLive(sessionId: string, userId: string): Promise<SessionEntity | null>;

  /** The user's live sessions and the live impersonation sessions the user holds, newest first. */
  abstract listLiveForUser(userId: string): Promise<SessionEntity[]>;

  /** Ends the session if it is live. */
  abstract revoke(sessionId: string, reason: string): Promise<RevokedSession[]>;

  /** Ends the session if it is live and is the owner's, or an impersonation session the owner holds. */
  abstract revokeOwned(sessionId: string, ownerId: string, reason: string): Promise<RevokedSession[]>;

  /** Ends the user's sessions (but the one excepted) and the impersonation sessions the user holds. */
  abstract revokeAllForUser(userId: string, opts: { exceptSessionId?: string; reason: string }, tx?: Tx): Promise<RevokedSession[]>;

  /** Ends the impersonation sessions the user holds as an admin. */
  abstract revokeImpersonationsBy(impersonatorId: string, reason: string): Promise<RevokedSession[]>;
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
  amr: string[];
  aal: number;
  auth_time: Date;
}

/** A session row's columns, as SessionRow has them, for statements that list them. */
const SESSION_COLUMNS = [
  'id',
  'user_id',
  'ip',
  'user_agent',
  'created_at',
  'last_used_at',
  'expires_at',
  'revoked_at',
  'revoke_reason',
  'impersonator_id',
  'impersonator_session_id',
  'amr',
  'aal',
  'auth_time',
]
  .map((column) => `sessions.${column}`)
  .join(', ');

function fromRow(row: SessionRow): SessionEntity {
  return Object.assign(new SessionEntity(), {
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
    amr: row.amr,
    aal: row.aal,
    authTime: row.auth_time,
  } satisfies SessionEntity);
}

interface RotatedRow extends SessionRow {
  user_email: string;
  user_username: string | null;
  user_display_name: string | null;
  user_mfa_enabled: boolean;
  user_email_verified: boolean;
  user_roles: string[];
  user_deactivated_at: Date | null;
  user_created_at: Date;
  user_updated_at: Date;
}

/** The public fields of the session's user `u`, as RotatedRow has them. */
const SESSION_USER_COLUMNS = `u.email AS user_email, u.username AS user_username, u.display_name AS user_display_name, u.mfa_enabled AS user_mfa_enabled, u.email_verified AS user_email_verified,
  u.roles AS user_roles, u.deactivated_at AS user_deactivated_at, u.created_at AS user_created_at, u.updated_at AS user_updated_at`;

function userFromRow(row: RotatedRow): PublicUser {
  return {
    id: row.user_id,
    email: row.user_email,
    username: row.user_username,
    displayName: row.user_display_name,
    mfaEnabled: row.user_mfa_enabled,
    emailVerified: row.user_email_verified,
    roles: row.user_roles,
    deactivated: row.user_deactivated_at !== null,
    createdAt: row.user_created_at.toISOString(),
    updatedAt: row.user_updated_at.toISOString(),
  };
}

interface RevokedRow {
  id: string;
  user_id: string;
  /** Set when it differs from the revocation's reason (an impersonation ended with its admin's session). */
  reason: string | null;
}

/** A user's sessions ($1; all but $3 when given) and the impersonation sessions the user holds as an admin. */
const ALL_FOR_USER = `((user_id = $1 AND ($3::uuid IS NULL OR id <> $3::uuid)) OR impersonator_id = $1)`;

@Injectable()
export class PgSessionsRepository implements SessionsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * One statement. The user row is share-locked, so a concurrent password reset or deactivation
   * either waits for this session (and then revokes it) or has already committed (and this login is
   * refused): a login racing a reset never outlives it. The admin's session is share-locked likewise,
   * so a logout racing an impersonation either waits and then ends it, or has ended it already.
   */
  async createWithRefreshToken(session: NewSession): Promise<SessionEntity | null> {
    const rows: SessionRow[] = await this.dataSource.query(
      `WITH u AS (
         SELECT id FROM users WHERE id = $1 AND deactivated_at IS NULL AND ($7::text IS NULL OR password_hash = $7) FOR SHARE),
       origin AS (
         SELECT expires_at FROM sessions WHERE id = $8 AND revoked_at IS NULL AND expires_at > now() FOR SHARE),
       s AS (
         INSERT INTO sessions (user_id, ip, user_agent, expires_at, impersonator_id, impersonator_session_id, amr, aal, auth_time)
         SELECT u.id, $2, $3, least(now() + make_interval(secs => $4), (SELECT expires_at FROM origin)), $5, $8, $9, $10, now() FROM u
          WHERE $8::uuid IS NULL OR EXISTS (SELECT 1 FROM origin)
         RETURNING *),
       t AS (INSERT INTO refresh_tokens (token_hash, session_id) SELECT $6, id FROM s)
       SELECT * FROM s`,
      [
        session.userId,
        session.ip,
        session.userAgent,
        session.ttlSeconds,
        session.impersonator?.userId ?? null,
        session.refreshTokenHash,
        session.checkedPasswordHash ?? null,
        session.impersonator?.sessionId ?? null,
        session.assurance.amr,
        session.assurance.aal,
      ],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /**
   * One statement, the whole of a refresh's database work. Claiming the old token is a conditional
   * UPDATE: of concurrent calls with one token, exactly one sees `rotated_at IS NULL` (the others wait
   * on its row lock, then see it set). The user is read, not locked: a deactivation revokes the
   * user's sessions after marking the user, and that revocation either waits for this statement's
   * session row lock (and then ends the session) or has already ended it (and nothing is touched).
   */
  async rotateRefreshToken(rotation: RefreshTokenRotation): Promise<RotatedRefreshToken | null> {
    const rows = await preparedQuery<RotatedRow>(
      this.dataSource,
      'gatehouse_rotate_refresh_token',
      `WITH claimed AS (
         UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id),
       s AS (
         UPDATE sessions SET last_used_at = now(), ip = coalesce($3, sessions.ip), user_agent = coalesce($4, sessions.user_agent)
           FROM claimed, users u
          WHERE sessions.id = claimed.session_id AND u.id = sessions.user_id
            AND sessions.revoked_at IS NULL AND sessions.expires_at > now()
          RETURNING ${SESSION_COLUMNS}, ${SESSION_USER_COLUMNS}),
       t AS (INSERT INTO refresh_tokens (token_hash, session_id) SELECT $2, id FROM s WHERE user_deactivated_at IS NULL)
       SELECT * FROM s`,
      [rotation.tokenHash, rotation.nextTokenHash, rotation.ip, rotation.userAgent],
    );
    return rows[0] ? { session: fromRow(rows[0]), user: userFromRow(rows[0]) } : null;
  }

  async reauthenticate(reauth: SessionReauthentication): Promise<RotatedRefreshToken | null> {
    if (!UUID_PATTERN.test(reauth.sessionId)) return null;
    const rows: RotatedRow[] = await this.dataSource.query(
      `WITH s AS (
         UPDATE sessions SET auth_time = now(), last_used_at = now(),
                amr = ARRAY(SELECT DISTINCT unnest(sessions.amr || $3::text[]) ORDER BY 1)
           FROM users u
          WHERE sessions.id = $1 AND sessions.user_id = $2 AND u.id = sessions.user_id AND u.deactivated_at IS NULL
            AND sessions.revoked_at IS NULL AND sessions.expires_at > now()
          RETURNING ${SESSION_COLUMNS}, ${SESSION_USER_COLUMNS}),
       spent AS (UPDATE refresh_tokens SET rotated_at = now() WHERE session_id IN (SELECT id FROM s) AND rotated_at IS NULL),
       t AS (INSERT INTO refresh_tokens (token_hash, session_id) SELECT $4, id FROM s)
       SELECT * FROM s`,
      [reauth.sessionId, reauth.userId, reauth.amr, reauth.nextTokenHash],
    );
    return rows[0] ? { session: fromRow(rows[0]), user: userFromRow(rows[0]) } : null;
  }

  async raiseAssurance(raise: SessionAssuranceRaise, tx?: Tx): Promise<SessionEntity | null> {
    if (!UUID_PATTERN.test(raise.sessionId)) return null;
    const [row] = await updateReturning<SessionRow>(
      tx ?? this.dataSource.manager,
      `UPDATE sessions SET auth_time = now(), aal = greatest(sessions.aal, $4),
              amr = ARRAY(SELECT DISTINCT unnest(sessions.amr || $3::text[]) ORDER BY 1)
         FROM users u
        WHERE sessions.id = $1 AND sessions.user_id = $2 AND u.id = sessions.user_id AND u.deactivated_at IS NULL
          AND sessions.impersonator_id IS NULL AND sessions.revoked_at IS NULL AND sessions.expires_at > now()
        RETURNING ${SESSION_COLUMNS}`,
      [raise.sessionId, raise.userId, raise.amr, raise.aal],
    );
    return row ? fromRow(row) : null;
  }

  /** One statement: the new token goes only if it is the old one's successor and was never rotated itself. */
  async restoreRefreshToken(tokenHash: string, nextTokenHash: string): Promise<boolean> {
    const rows = await updateReturning(
      this.dataSource.manager,
      `WITH dropped AS (
         DELETE FROM refresh_tokens n USING refresh_tokens o
          WHERE n.token_hash = $2 AND n.rotated_at IS NULL AND o.token_hash = $1 AND o.session_id = n.session_id AND o.rotated_at IS NOT NULL
          RETURNING n.session_id)
       UPDATE refresh_tokens SET rotated_at = NULL FROM dropped
        WHERE refresh_tokens.token_hash = $1 AND refresh_tokens.session_id = dropped.session_id
        RETURNING 1`,
      [tokenHash, nextTokenHash],
    );
    return rows.length > 0;
  }

  async findRefreshToken(tokenHash: string, opts: { reuseIntervalSeconds: number }): Promise<RefreshTokenState | null> {
    const rows: Array<{ session_id: string; user_id: string; rotated: boolean; reused_late: boolean; live: boolean }> =
      await this.dataSource.query(
        `SELECT rt.session_id, s.user_id, rt.rotated_at IS NOT NULL AS rotated,
              coalesce(rt.rotated_at < now() - make_interval(secs => $2), false) AS reused_late,
              (s.revoked_at IS NULL AND s.expires_at > now()) AS live
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
        WHERE rt.token_hash = $1`,
        [tokenHash, opts.reuseIntervalSeconds],
      );
    const row = rows[0];
    if (!row) return null;
    return {
      sessionId: row.session_id,
      userId: row.user_id,
      rotated: row.rotated,
      rotatedBeforeInterval: row.reused_late,
      sessionLive: row.live,
    };
  }

  findLive(sessionId: string, userId: string): Promise<SessionEntity | null> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve(null);
    return this.sessions().findOneBy({ id: sessionId, userId, revokedAt: IsNull(), expiresAt: MoreThan(new Date()) });
  }

  listLiveForUser(userId: string): Promise<SessionEntity[]> {
    const live = { revokedAt: IsNull(), expiresAt: MoreThan(new Date()) };
    return this.sessions().find({
      where: [
        { userId, ...live },
        { impersonatorId: userId, ...live },
      ],
      order: { createdAt: 'DESC' },
    });
  }

  revoke(sessionId: string, reason: string): Promise<RevokedSession[]> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve([]);
    return this.revokeWhere(this.dataSource.manager, `id = $1 AND expires_at > now()`, [sessionId, reason]);
  }

  revokeOwned(sessionId: string, ownerId: string, reason: string): Promise<RevokedSession[]> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve([]);
    return this.revokeWhere(this.dataSource.manager, `id = $1 AND (user_id = $3 OR impersonator_id = $3) AND expires_at > now()`, [
      sessionId,
      reason,
      ownerId,
    ]);
  }

  revokeAllForUser(userId: string, opts: { exceptSessionId?: string; reason: string }, tx?: Tx): Promise<RevokedSession[]> {
    return this.revokeWhere(tx ?? this.dataSource.manager, ALL_FOR_USER, [userId, opts.reason, opts.exceptSessionId ?? null]);
  }

  revokeImpersonationsBy(impersonatorId: string, reason: string): Promise<RevokedSession[]> {
    return this.revokeWhere(this.dataSource.manager, `impersonator_id = $1`, [impersonatorId, reason]);
  }

  private sessions() {
    return this.dataSource.getRepository(SessionEntity);
  }

  /**
   * Revokes the live sessions matching `where` ($2 is the reason), and the impersonation sessions
   * started from them (one level is all there is: an impersonation session never starts another).
   * The same statement notifies every instance, so a committed revocation never goes unannounced.
   */
  private async revokeWhere(em: Pick<Tx, 'query'>, where: string, params: unknown[]): Promise<RevokedSession[]> {
    const rows: RevokedRow[] = await em.query(
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
    return rows.map((row) => ({ sessionId: row.id, userId: row.user_id, reason: row.reason ?? String(params[1]) }));
  }
}
