/** The domain events of the contract (API.md "Events"). */
export const EVENT_TYPES = [
  'user.registered',
  'user.email_verified',
  'user.logged_in',
  'user.login_failed',
  'user.password_changed',
  'user.password_reset',
  'user.deactivated',
  'user.activated',
  'user.impersonated',
  'user.roles_changed',
  'user.logged_in_by_service',
  'user.reauthenticated',
  'user.mfa_challenged',
  'user.mfa_failed',
  'user.mfa_enabled',
  'user.mfa_disabled',
  'user.recovery_codes_regenerated',
  'user.recovery_code_used',
  'user.updated',
  'user.email_change_requested',
  'user.data_exported',
  'user.deletion_requested',
  'user.deleted',
  'session.revoked',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const USER_DEACTIVATED = 'user.deactivated' satisfies EventType;
export const USER_ACTIVATED = 'user.activated' satisfies EventType;
/** In-process, awaited: the user's credentials were replaced by an operator; every session ends. */
export const USER_CREDENTIALS_RESET = 'user.credentials-reset';
/** In-process, awaited: the user's roles changed ({ userId, roles }). */
export const USER_ROLES_CHANGED = 'user.roles-changed';

/** Emitted in-process for every domain event, whatever its type (for the audit log and Redis). */
export const ANY_DOMAIN_EVENT = 'gatehouse.domain-event';

/** What every event carries; never a secret. */
export interface DomainEvent {
  type: EventType;
  /** The user concerned (for user.impersonated: the target). */
  userId: string | null;
  sessionId?: string;
  at: string;
  ip?: string | null;
  userAgent?: string | null;
  /** Who acted on the user, when not the user (an admin). */
  actorId?: string;
  /** Why a session was revoked (session.revoked). */
  reason?: string;
  /**
   * What the type needs beyond the fields above: the roles now held (user.roles_changed), the
   * transport of the trusted caller (user.logged_in_by_service), the factors proven
   * (user.reauthenticated: `amr`), the fields changed (user.updated), the erasure time
   * (user.deletion_requested). Never a secret, never an address.
   */
  details?: Record<string, unknown>;
}
