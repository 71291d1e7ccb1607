import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { MfaLockoutService } from '../mfa/mfa-lockout.service.js';
import { RecoveryCodesService } from '../mfa/recovery-codes.service.js';
import { TotpService, type TotpSetup } from '../mfa/totp.service.js';
import { Transactions } from '../platform/database/transactions.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { AppError, ErrorCode, notFound } from '../shared/errors/app-error.js';
import { UsersService } from '../users/users.service.js';

/** What `GET /auth/mfa` answers: the user's second factors, never a secret. */
export interface MfaStatus {
  totp: { enabled: boolean; confirmedAt: string | null };
  /** Unused recovery codes; 0 without a confirmed factor. */
  recoveryCodesLeft: number;
  /** Passkeys come in a later release: always empty for now. */
  passkeys: never[];
}

/** What a session that proves its user's second factor gains (RFC 8176). */
const SECOND_FACTOR_PROVEN = { amr: ['otp', 'mfa'], aal: 2 } as const;

const factorOn = (): AppError => new AppError(ErrorCode.FORBIDDEN, 'a second factor is on already; turn it off first');
const noFactor = (): AppError => new AppError(ErrorCode.FORBIDDEN, 'no second factor is on');

/**
 * A user managing their own second factor (status, TOTP setup, confirmation, removal, recovery
 * codes) and an administrator's reset of it. The guards see to the route's conditions (recent
 * sign-in, `aal` 2, impersonations refused on recent routes); this service to the factor's state.
 */
@Injectable()
export class MfaSettingsService {
  constructor(
    private readonly totp: TotpService,
    private readonly recoveryCodes: RecoveryCodesService,
    private readonly lockout: MfaLockoutService,
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly outbox: MailOutbox,
    private readonly transactions: Transactions,
    private readonly events: DomainEvents,
  ) {}

  async status(userId: string): Promise<MfaStatus> {
    const [totp, recoveryCodesLeft] = await Promise.all([this.totp.status(userId), this.recoveryCodes.remaining(userId)]);
    return {
      totp: { enabled: totp.enabled, confirmedAt: totp.confirmedAt?.toISOString() ?? null },
      recoveryCodesLeft,
      passkeys: [],
    };
  }

  /** A new pending TOTP secret (replacing a pending one); refused while a confirmed factor exists. */
  async startTotpSetup(auth: AuthContext): Promise<TotpSetup> {
    const setup = await this.totp.startSetup({ id: auth.userId, email: auth.user.email });
    if (!setup) throw factorOn();
    return setup;
  }

  /**
   * Confirms the pending setup with a code from the app: the factor is on, a first set of recovery
   * codes is made (shown once), every other session of the user ends, and the calling session, on
   * which the user just proved the factor, is raised to `aal` 2. Wrong codes count toward the
   * second-factor lockout.
   */
  async confirmTotp(auth: AuthContext, code: string): Promise<{ recoveryCodes: string[] }> {
    // An impersonating admin proved no factor of the user's, and must not raise its own session.
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot turn on a second factor');
    if ((await this.totp.status(auth.userId)).enabled) throw factorOn();
    await this.lockout.begin(auth.userId);
    if (!(await this.totp.confirm(auth.userId, code))) throw new AppError(ErrorCode.INVALID_MFA_CODE, 'invalid code');
    await this.lockout.succeeded(auth.userId);
    // Hashed after the code was right: ten argon2id hashes are not spent on a wrong guess.
    const recoveryCodes = await this.recoveryCodes.regenerate(auth.userId);
    const revoked = await this.transactions.run(async (tx) => {
      const ended = await this.sessions.revokeAllForUserIn(tx, auth.userId, { exceptSessionId: auth.sessionId, reason: 'mfa_enabled' });
      await this.sessions.raiseAssuranceIn(tx, auth, { amr: [...SECOND_FACTOR_PROVEN.amr], aal: SECOND_FACTOR_PROVEN.aal });
      await this.outbox.queueMfaEnabled(tx, auth.user.email);
      return ended;
    });
    await this.sessions.announceRevoked(revoked);
    this.outbox.wakeWorker();
    this.events.publish('user.mfa_enabled', { userId: auth.userId, sessionId: auth.sessionId, details: { method: 'totp' } });
    return { recoveryCodes };
  }

  /** The caller turns the second factor off: the factor and its recovery codes are removed. */
  async disableTotp(auth: AuthContext): Promise<void> {
    await this.turnOff({ id: auth.userId, email: auth.user.email }, { sessionId: auth.sessionId });
  }

  /** A new set of recovery codes, shown once; the old set is void. Needs a confirmed factor. */
  async regenerateRecoveryCodes(auth: AuthContext): Promise<{ recoveryCodes: string[] }> {
    if (!(await this.totp.status(auth.userId)).enabled) throw noFactor();
    const recoveryCodes = await this.recoveryCodes.regenerate(auth.userId);
    this.events.publish('user.recovery_codes_regenerated', { userId: auth.userId, sessionId: auth.sessionId });
    return { recoveryCodes };
  }

  /**
   * An administrator (`actorId`), or a trusted service (no actor), turns a user's second factor off:
   * for a user who lost the device and the codes. The user's sessions are kept; the user is mailed.
   * An admin's own factor is turned off only through the user's route (recent sign-in and `aal` 2).
   */
  async resetForUser(userId: string, actorId?: string): Promise<void> {
    if (actorId === userId) throw new AppError(ErrorCode.FORBIDDEN, 'turn your own second factor off with DELETE /auth/mfa/totp');
    const user = await this.users.findById(userId);
    if (!user) throw notFound('user not found');
    await this.turnOff(user, { actorId: actorId ?? null });
  }

  /**
   * Removes the factor, pending or confirmed, and the recovery codes. Only a factor that was on is
   * mailed and audited: a pending setup was never one.
   */
  private async turnOff(user: { id: string; email: string }, by: { sessionId: string } | { actorId: string | null }): Promise<void> {
    const wasOn = (await this.totp.status(user.id)).enabled;
    if (!(await this.totp.disable(user.id)) || !wasOn) return;
    const byAdmin = 'actorId' in by;
    // The factor is removed in its own transaction (TotpService's); the notice follows it.
    await this.transactions.run((tx) => this.outbox.queueMfaDisabled(tx, user.email, { byAdmin }));
    this.outbox.wakeWorker();
    this.events.publish('user.mfa_disabled', {
      userId: user.id,
      ...('sessionId' in by ? { sessionId: by.sessionId } : by.actorId ? { actorId: by.actorId } : {}),
      details: { method: 'totp', reset: byAdmin },
    });
  }
}
