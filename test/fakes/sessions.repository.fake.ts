import { randomUUID } from 'node:crypto';

import type { Tx } from '../../src/platform/database/transactions';
import { SessionEntity } from '../../src/sessions/session.entity';
import {
  IMPERSONATOR_SESSION_ENDED,
  type NewSession,
  type RefreshTokenRotation,
  type RefreshTokenState,
  type RevokedSession,
  type RotatedRefreshToken,
  type SessionAssuranceRaise,
  type SessionReauthentication,
  type SessionsRepository,
} from '../../src/sessions/sessions.repository';
import type { PublicUser } from '../../src/shared/access/auth-context';
import { UUID_PATTERN } from '../../src/shared/crypto';

interface StoredUser {
  passwordHash: string;
  deactivated: boolean;
  email: string;
  roles: string[];
  createdAt: Date;
}

/** What a test may say of a user; the rest gets defaults. */
export interface GivenUser {
  id?: string;
  passwordHash?: string;
  deactivated?: boolean;
  email?: string;
  roles?: string[];
}

interface StoredToken {
  sessionId: string;
  rotatedAt: number | null;
}

/**
 * SessionsRepository in memory, for unit specs; it passes the same contract as PgSessionsRepository.
 * It knows just enough of users (givenUser) to refuse sessions as the real one does.
 */
export class InMemorySessionsRepository implements SessionsRepository {
  private readonly users = new Map<string, StoredUser>();
  private readonly sessions = new Map<string, SessionEntity>();
  private readonly tokens = new Map<string, StoredToken>();
  private lastNow = 0;

  givenUser(user: GivenUser = {}): string {
    const id = user.id ?? randomUUID();
    this.users.set(id, {
      passwordHash: user.passwordHash ?? 'hash',
      deactivated: user.deactivated ?? false,
      email: user.email ?? `${id}@example.com`,
      roles: user.roles ?? ['user'],
      createdAt: new Date(this.now()),
    });
    return id;
  }

  /** Marks the user deactivated without revoking anything, as a deactivation whose revocation was lost. */
  deactivateUser(id: string): void {
    const user = this.users.get(id);
    if (user) user.deactivated = true;
  }

  /** Every stored session, revoked ones included, as specs inspect rows. */
  all(): SessionEntity[] {
    return [...this.sessions.values()].map(copy);
  }

  /** The token hashes stored for a session, in issue order. */
  tokenHashesOf(sessionId: string): string[] {
    return [...this.tokens].filter(([, t]) => t.sessionId === sessionId).map(([hash]) => hash);
  }

  createWithRefreshToken(s: NewSession): Promise<SessionEntity | null> {
    const user = this.users.get(s.userId);
    if (!user || user.deactivated || (s.checkedPasswordHash !== undefined && user.passwordHash !== s.checkedPasswordHash))
      return Promise.resolve(null);
    const now = this.now();
    let expiresAt = now + s.ttlSeconds * 1000;
    if (s.impersonator) {
      const origin = this.sessions.get(s.impersonator.sessionId);
      if (!origin || !isLive(origin, now)) return Promise.resolve(null);
      expiresAt = Math.min(expiresAt, origin.expiresAt.getTime());
    }
    if (this.tokens.has(s.refreshTokenHash)) return Promise.reject(new Error('duplicate refresh token hash'));
    const session = Object.assign(new SessionEntity(), {
      id: randomUUID(),
      userId: s.userId,
      ip: s.ip,
      userAgent: s.userAgent,
      createdAt: new Date(now),
      lastUsedAt: new Date(now),
      expiresAt: new Date(expiresAt),
      revokedAt: null,
      revokeReason: null,
      impersonatorId: s.impersonator?.userId ?? null,
      impersonatorSessionId: s.impersonator?.sessionId ?? null,
      amr: [...s.assurance.amr],
      aal: s.assurance.aal,
      authTime: new Date(now),
    } satisfies SessionEntity);
    this.sessions.set(session.id, session);
    this.tokens.set(s.refreshTokenHash, { sessionId: session.id, rotatedAt: null });
    return Promise.resolve(copy(session));
  }

  rotateRefreshToken(rotation: RefreshTokenRotation): Promise<RotatedRefreshToken | null> {
    const now = this.now();
    const token = this.tokens.get(rotation.tokenHash);
    if (!token || token.rotatedAt !== null) return Promise.resolve(null);
    // As the real statement does: the token is claimed even when its session turns out not live.
    token.rotatedAt = now;
    const session = this.sessions.get(token.sessionId);
    const user = session && this.users.get(session.userId);
    if (!session || !user || !isLive(session, now)) return Promise.resolve(null);
    session.lastUsedAt = new Date(now);
    session.ip = rotation.ip ?? session.ip;
    session.userAgent = rotation.userAgent ?? session.userAgent;
    if (!user.deactivated) this.tokens.set(rotation.nextTokenHash, { sessionId: session.id, rotatedAt: null });
    return Promise.resolve({ session: copy(session), user: publicUser(session.userId, user) });
  }

  restoreRefreshToken(tokenHash: string, nextTokenHash: string): Promise<boolean> {
    const token = this.tokens.get(tokenHash);
    const next = this.tokens.get(nextTokenHash);
    if (!token || !next || token.rotatedAt === null || next.rotatedAt !== null || next.sessionId !== token.sessionId)
      return Promise.resolve(false);
    this.tokens.delete(nextTokenHash);
    token.rotatedAt = null;
    return Promise.resolve(true);
  }

  reauthenticate(r: SessionReauthentication): Promise<RotatedRefreshToken | null> {
    const now = this.now();
    const session = this.sessions.get(r.sessionId);
    const user = session && this.users.get(session.userId);
    if (!session || !user || user.deactivated || session.userId !== r.userId || !isLive(session, now)) return Promise.resolve(null);
    session.authTime = new Date(now);
    session.lastUsedAt = new Date(now);
    session.amr = [...new Set([...session.amr, ...r.amr])].sort();
    for (const token of this.tokens.values()) if (token.sessionId === session.id && token.rotatedAt === null) token.rotatedAt = now;
    this.tokens.set(r.nextTokenHash, { sessionId: session.id, rotatedAt: null });
    return Promise.resolve({ session: copy(session), user: publicUser(session.userId, user) });
  }

  raiseAssurance(r: SessionAssuranceRaise, _tx?: Tx): Promise<SessionEntity | null> {
    const now = this.now();
    const session = this.sessions.get(r.sessionId);
    const user = session && this.users.get(session.userId);
    if (!session || !user || user.deactivated || session.userId !== r.userId || session.impersonatorId !== null || !isLive(session, now))
      return Promise.resolve(null);
    session.authTime = new Date(now);
    session.aal = Math.max(session.aal, r.aal);
    session.amr = [...new Set([...session.amr, ...r.amr])].sort();
    return Promise.resolve(copy(session));
  }

  findRefreshToken(tokenHash: string, opts: { reuseIntervalSeconds: number }): Promise<RefreshTokenState | null> {
    const now = this.now();
    const token = this.tokens.get(tokenHash);
    const session = token && this.sessions.get(token.sessionId);
    if (!token || !session) return Promise.resolve(null);
    return Promise.resolve({
      sessionId: session.id,
      userId: session.userId,
      rotated: token.rotatedAt !== null,
      rotatedBeforeInterval: token.rotatedAt !== null && token.rotatedAt < now - opts.reuseIntervalSeconds * 1000,
      sessionLive: isLive(session, now),
    });
  }

  findLive(sessionId: string, userId: string): Promise<SessionEntity | null> {
    const now = this.now();
    const session = this.sessions.get(sessionId);
    return Promise.resolve(session && session.userId === userId && isLive(session, now) ? copy(session) : null);
  }

  listLiveForUser(userId: string): Promise<SessionEntity[]> {
    const now = this.now();
    return Promise.resolve(
      [...this.sessions.values()]
        .filter((s) => (s.userId === userId || s.impersonatorId === userId) && isLive(s, now))
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
        .map(copy),
    );
  }

  revoke(sessionId: string, reason: string): Promise<RevokedSession[]> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve([]);
    return this.revokeWhere((s, now) => s.id === sessionId && s.expiresAt.getTime() > now, reason);
  }

  revokeOwned(sessionId: string, ownerId: string, reason: string): Promise<RevokedSession[]> {
    if (!UUID_PATTERN.test(sessionId)) return Promise.resolve([]);
    return this.revokeWhere(
      (s, now) => s.id === sessionId && (s.userId === ownerId || s.impersonatorId === ownerId) && s.expiresAt.getTime() > now,
      reason,
    );
  }

  revokeAllForUser(userId: string, opts: { exceptSessionId?: string; reason: string }, _tx?: Tx): Promise<RevokedSession[]> {
    return this.revokeWhere((s) => (s.userId === userId && s.id !== opts.exceptSessionId) || s.impersonatorId === userId, opts.reason);
  }

  revokeImpersonationsBy(impersonatorId: string, reason: string): Promise<RevokedSession[]> {
    return this.revokeWhere((s) => s.impersonatorId === impersonatorId, reason);
  }

  private revokeWhere(matches: (s: SessionEntity, now: number) => boolean, reason: string): Promise<RevokedSession[]> {
    const now = this.now();
    const end = (s: SessionEntity, why: string): RevokedSession => {
      s.revokedAt = new Date(now);
      s.revokeReason = why;
      return { sessionId: s.id, userId: s.userId, reason: why };
    };
    const revoked = [...this.sessions.values()].filter((s) => s.revokedAt === null && matches(s, now)).map((s) => end(s, reason));
    const ended = new Set(revoked.map((r) => r.sessionId));
    const cascaded = [...this.sessions.values()]
      .filter((s) => s.revokedAt === null && s.impersonatorSessionId !== null && ended.has(s.impersonatorSessionId))
      .map((s) => end(s, IMPERSONATOR_SESSION_ENDED));
    return Promise.resolve([...revoked, ...cascaded]);
  }

  /** Like PostgreSQL's now() in successive transactions: every call sees a later time. */
  private now(): number {
    this.lastNow = Math.max(Date.now(), this.lastNow + 1);
    return this.lastNow;
  }
}

function isLive(s: SessionEntity, now: number): boolean {
  return s.revokedAt === null && s.expiresAt.getTime() > now;
}

function publicUser(id: string, user: StoredUser): PublicUser {
  return {
    id,
    email: user.email,
    username: null,
    displayName: null,
    mfaEnabled: false,
    emailVerified: false,
    roles: [...user.roles],
    deactivated: user.deactivated,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.createdAt.toISOString(),
  };
}

function copy(s: SessionEntity): SessionEntity {
  return Object.assign(new SessionEntity(), s, { amr: [...s.amr] });
}
