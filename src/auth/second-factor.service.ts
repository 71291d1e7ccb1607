import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { MailOutbox } from '../mail/mail-outbox.service.js';
import { MfaChallengesService, type MfaChallenge } from '../mfa/mfa-challenges.service.js';
import { MfaLockoutService } from '../mfa/mfa-lockout.service.js';
import { RecoveryCodesService } from '../mfa/recovery-codes.service.js';
import { TotpService } from '../mfa/totp.service.js';
import { Transactions } from '../platform/database/transactions.js';
import { MetricsService, type SecondFactorOutcome } from '../platform/observability/metrics/metrics.service.js';
import { sha256Hex } from '../shared/crypto.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import type { UserEntity } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';
import { LoginResult, LoginService, type SecondFactorMethod } from './login.service.js';

export interface SecondFactorProof {
  mfaToken: string;
  method: SecondFactorMethod;
  code: string;
}

export const invalidMfaCode = (message = 'invalid code'): AppError => new AppError(ErrorCode.INVALID_MFA_CODE, message);

const deadStep = (): AppError => invalidMfaCode('invalid or expired mfaToken: sign in again');

/**
 * The step between factors: a code (TOTP or recovery code) against the mfaToken a first factor
 * answered, and then the session the first factor asked for, at aal 2. Every attempt counts toward
 * the account's second-factor lockout before its code is checked; a wrong code also counts against
 * the mfaToken, which dies at the fifth.
 */
@Injectable()
export class SecondFactorService {
  constructor(
    private readonly challenges: MfaChallengesService,
    private readonly lockout: MfaLockoutService,
    private readonly totp: TotpService,
    private readonly recoveryCodes: RecoveryCodesService,
    private readonly users: UsersService,
    private readonly login: LoginService,
    private readonly events: DomainEvents,
    private readonly metrics: MetricsService,
    private readonly outbox: MailOutbox,
    private readonly transactions: Transactions,
  ) {}

  async verify(proof: SecondFactorProof): Promise<LoginResult> {
    const challenge = await this.challenges.find(proof.mfaToken);
    if (!challenge) return this.refused(proof.method, 'expired', deadStep());
    const { userId } = challenge;
    const attempt = await this.counted(userId, proof.method);
    const proven = await this.check(userId, proof);
    if (!proven) {
      await this.challenges.recordWrongCode(challenge.id);
      this.failed(challenge, proof.method, attempt.number);
      return this.refused(proof.method, 'wrong', invalidMfaCode());
    }
    // Of concurrent right answers to one mfaToken (two different codes), one gets the session.
    if (!(await this.challenges.consume(proof.mfaToken))) return this.refused(proof.method, 'expired', deadStep());
    await this.lockout.succeeded(userId);
    this.metrics.secondFactorChecked(proof.method, 'ok');
    // One read of the user serves the notice and the session.
    const user = await this.users.findByIdWithPassword(userId);
    if (!user) throw deadStep();
    // The notice goes out whether or not the session then opens: the code is spent either way.
    if (proven.remaining !== undefined) await this.mailRecoveryCodeUsed(user.email, proven.remaining);
    const result = await this.openSession(challenge, user, proven.amr);
    if (proven.remaining !== undefined) {
      this.events.publish('user.recovery_code_used', { userId, sessionId: result.sessionId, details: { remaining: proven.remaining } });
    }
    return result;
  }

  /** A code of the user's confirmed TOTP (its step claimed), for re-authentication. */
  async proveTotp(userId: string, code: string): Promise<void> {
    const attempt = await this.counted(userId, 'totp');
    if (!(await this.totp.verify(userId, code))) {
      this.events.publish('user.mfa_failed', { userId, details: { method: 'totp', consecutive: attempt.number } });
      return this.refused('totp', 'wrong', invalidMfaCode());
    }
    await this.lockout.succeeded(userId);
    this.metrics.secondFactorChecked('totp', 'ok');
  }

  private async mailRecoveryCodeUsed(email: string, remaining: number): Promise<void> {
    await this.transactions.run((tx) => this.outbox.queueRecoveryCodeUsed(tx, email, remaining));
    this.outbox.wakeWorker();
  }

  /** Counts the attempt toward the account's second-factor lockout, before its code is checked. */
  private async counted(userId: string, method: SecondFactorMethod): Promise<{ number: number }> {
    try {
      return await this.lockout.begin(userId);
    } catch (error) {
      return this.refused(method, 'locked', error);
    }
  }

  private refused(method: SecondFactorMethod, outcome: SecondFactorOutcome, error: unknown): never {
    this.metrics.secondFactorChecked(method, outcome);
    throw error;
  }

  private async check(userId: string, proof: SecondFactorProof): Promise<{ amr: string[]; remaining?: number } | null> {
    if (proof.method === 'totp') return (await this.totp.verify(userId, proof.code)) ? { amr: ['otp'] } : null;
    const used = await this.recoveryCodes.use(userId, proof.code);
    // RFC 8176 has no value for a recovery code: the session says only that two factors were used.
    return used ? { amr: [], remaining: used.remaining } : null;
  }

  /**
   * The session the first factor asked for (its lifetime, address and agent), if that factor still
   * stands: the user active and, for a password, the same password as when it was checked.
   */
  private openSession(challenge: MfaChallenge, user: UserEntity, secondAmr: string[]): Promise<LoginResult> {
    const context = challenge.loginContext;
    const { passwordHash, ...rest } = user;
    if (context.passwordFingerprint !== undefined && (!passwordHash || sha256Hex(passwordHash) !== context.passwordFingerprint)) {
      throw deadStep();
    }
    const amr = [...new Set([...context.amr, ...secondAmr, 'mfa'])].sort();
    return this.login.startSession(rest, {
      ttl: context.ttl,
      connection: { ip: context.ip, userAgent: context.userAgent },
      checkedPasswordHash: context.passwordFingerprint !== undefined ? (passwordHash ?? undefined) : undefined,
      assurance: { amr, aal: 2 },
    });
  }

  private failed(challenge: MfaChallenge, method: SecondFactorMethod, consecutive: number): void {
    this.events.publish('user.mfa_failed', {
      userId: challenge.userId,
      ip: challenge.loginContext.ip,
      userAgent: challenge.loginContext.userAgent,
      details: { method, consecutive },
    });
  }
}
