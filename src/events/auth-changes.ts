/**
 * PostgreSQL NOTIFY channel on which changes that affect authenticated calls are announced to every
 * instance, by the statement making the change: `session:<id>` (revoked) and `user:<id>` (changed).
 */
export const AUTH_CHANGES_CHANNEL = 'gatehouse_auth_changes';

/** In-process event: a session was revoked (by this instance, before the answer is sent). */
export const SESSION_REVOKED = 'session.revoked' as const;
/** In-process event: a user's state that authenticated calls depend on changed. */
export const USER_CHANGED = 'user.changed';
/** Emitted for every change announced through the database, this instance's own included. */
export const AUTH_CHANGE_ANNOUNCED = 'auth.change-announced';

export interface SessionRevokedEvent {
  type: typeof SESSION_REVOKED;
  userId: string;
  sessionId: string;
  reason: string;
  at: string;
}

export interface UserChangedEvent {
  userId: string;
}

export interface AuthChangeAnnouncedEvent {
  kind: 'session' | 'user';
  id: string;
}

/** Emitted when signing keys were rotated or retired (announced as `keys:changed`). */
export const KEYS_CHANGED = 'keys.changed';
