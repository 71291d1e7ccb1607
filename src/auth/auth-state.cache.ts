import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import {
  AUTH_CHANGE_ANNOUNCED,
  SESSION_REVOKED,
  USER_CHANGED,
  type AuthChangeAnnouncedEvent,
  type SessionRevokedEvent,
  type UserChangedEvent,
} from '../events/auth-changes.js';
import { RevocationFeed } from '../sessions/revocation-feed.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';

interface Entry {
  /** The context without the per-token claims. */
  context: Omit<AuthContext, 'claims'>;
  /** Epoch ms after which the entry is not used: the earlier of the cache TTL and the session's end. */
  until: number;
  /** The revocation feed's generation when stored; any other generation means a gap in the feed. */
  generation: number;
}

export interface CacheSnapshot {
  invalidations: number;
  generation: number | undefined;
}

/** How long a session's state is trusted without asking the database, at most. */
export const AUTH_STATE_TTL_MS = 30_000;
const MAX_ENTRIES = 50_000;

/**
 * Live-session state by session id, so authenticated calls need no database round trip. Only used
 * while the revocation feed is live (every revocation, on any instance, reaches it) and only for
 * entries stored since its last (re)connection; otherwise every call asks the database.
 */
@Injectable()
export class AuthStateCache {
  private readonly entries = new Map<string, Entry>();
  private invalidations = 0;

  constructor(private readonly feed: RevocationFeed) {}

  /**
   * Taken before loading state from the database and handed back to set(): if any invalidation
   * happened in between, or the feed had a gap, the loaded state may predate a change and is not cached.
   */
  snapshot(): CacheSnapshot {
    return { invalidations: this.invalidations, generation: this.feed.generation };
  }

  get(sessionId: string, now = Date.now()): Omit<AuthContext, 'claims'> | undefined {
    const entry = this.entries.get(sessionId);
    if (!entry) return undefined;
    if (entry.until <= now || entry.generation !== this.feed.generation) {
      this.entries.delete(sessionId);
      return undefined;
    }
    return entry.context;
  }

  set(context: Omit<AuthContext, 'claims'>, sessionExpiresAt: Date, before: CacheSnapshot, now = Date.now()): void {
    const generation = this.feed.generation;
    if (generation === undefined || generation !== before.generation || before.invalidations !== this.invalidations) return;
    if (this.entries.size >= MAX_ENTRIES) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    // Shared by every request that hits this entry: nobody may change it.
    Object.freeze(context.roles);
    Object.freeze(context.user.roles);
    Object.freeze(context.user);
    Object.freeze(context);
    this.entries.set(context.sessionId, { context, until: Math.min(now + AUTH_STATE_TTL_MS, sessionExpiresAt.getTime()), generation });
  }

  @OnEvent(SESSION_REVOKED)
  onRevoked(event: SessionRevokedEvent): void {
    this.invalidateSession(event.sessionId);
  }

  @OnEvent(USER_CHANGED)
  onUserChanged(event: UserChangedEvent): void {
    this.invalidateUser(event.userId);
  }

  @OnEvent(AUTH_CHANGE_ANNOUNCED)
  onAnnounced(event: AuthChangeAnnouncedEvent): void {
    if (event.kind === 'session') this.invalidateSession(event.id);
    else this.invalidateUser(event.id);
  }

  invalidateSession(sessionId: string): void {
    this.invalidations += 1;
    this.entries.delete(sessionId);
  }

  invalidateUser(userId: string): void {
    this.invalidations += 1;
    for (const [sessionId, entry] of this.entries) if (entry.context.userId === userId) this.entries.delete(sessionId);
  }
}
