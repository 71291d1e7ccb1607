import { Inject, Injectable } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { Transactions } from '../platform/database/transactions.js';
import { MfaEncryption } from './mfa-encryption.service.js';
import { RecoveryCodesRepository } from './recovery-codes.repository.js';
import { base32Secret, generateTotpSecret, matchTotpStep, otpauthUrl } from './totp.js';
import { TotpRepository } from './totp.repository.js';

/** What setup shows the user once: the secret for manual entry, and the URL for a QR code. */
export interface TotpSetup {
  /** Base32, as authenticator apps take it typed in. */
  secret: string;
  otpauthUrl: string;
}

export interface TotpStatus {
  /** A confirmed factor: logins need the second factor. A pending setup is not enabled. */
  enabled: boolean;
  confirmedAt: Date | null;
}

/**
 * TOTP second factor (RFC 6238; SHA-1, 6 digits, 30 s, steps −1..+1). A setup stays pending, and
 * never satisfies a login, until one code confirms it. Every accepted code claims its time step: a
 * step at or before the last accepted one is refused, so a code works once, also when submitted
 * concurrently. Secrets are sealed with MfaEncryption; the plain secret leaves only through setup.
 */
@Injectable()
export class TotpService {
  private readonly issuer: string;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly totp: TotpRepository,
    private readonly recoveryCodes: RecoveryCodesRepository,
    private readonly encryption: MfaEncryption,
    private readonly transactions: Transactions,
  ) {
    this.issuer = totpIssuer(config.jwt.issuer);
  }

  /**
   * Starts (or restarts) a setup: a new pending secret replaces a pending one. Null, and nothing
   * changed, when the user already has a confirmed factor (disable it first).
   */
  async startSetup(user: { id: string; email: string }): Promise<TotpSetup | null> {
    const secret = generateTotpSecret();
    if (!(await this.totp.savePending(user.id, this.encryption.seal(secret, user.id)))) return null;
    return { secret: base32Secret(secret), otpauthUrl: otpauthUrl(secret, { issuer: this.issuer, account: user.email }) };
  }

  /**
   * Confirms the pending setup when the code verifies against it (claiming the code's step). False
   * for a wrong code, no pending setup, or a setup replaced meanwhile.
   */
  async confirm(userId: string, code: string): Promise<boolean> {
    const stored = await this.totp.find(userId);
    if (!stored || stored.confirmedAt) return false;
    const step = matchTotpStep(await this.encryption.open(stored.secretEnc, userId), code);
    return step !== null && this.totp.confirm(userId, stored.secretEnc, step);
  }

  /**
   * Checks a code against the confirmed factor and claims its step: true once per step, whatever
   * the concurrency; false for a wrong, reused or older code, or when there is no confirmed factor.
   */
  async verify(userId: string, code: string): Promise<boolean> {
    const stored = await this.totp.find(userId);
    if (!stored?.confirmedAt) return false;
    const step = matchTotpStep(await this.encryption.open(stored.secretEnc, userId), code);
    return step !== null && this.totp.claimStep(userId, stored.secretEnc, step);
  }

  /**
   * Removes the factor, pending or confirmed, and the recovery codes with it (they stand in for this
   * factor, the only one so far), in one transaction. True when a factor was removed.
   */
  disable(userId: string): Promise<boolean> {
    return this.transactions.run(async (tx) => {
      await this.recoveryCodes.deleteAll(userId, tx);
      return this.totp.delete(userId, tx);
    });
  }

  async status(userId: string): Promise<TotpStatus> {
    const stored = await this.totp.find(userId);
    return { enabled: !!stored?.confirmedAt, confirmedAt: stored?.confirmedAt ?? null };
  }

  /** Whether a login of this user needs a second factor: one indexed lookup. */
  hasConfirmedFactor(userId: string): Promise<boolean> {
    return this.totp.hasConfirmed(userId);
  }
}

/**
 * The issuer authenticator apps show beside the account: the token issuer's host name when it is a
 * URL (JWT_ISSUER, by default APP_URL), else the issuer as configured.
 */
export function totpIssuer(jwtIssuer: string): string {
  try {
    const url = new URL(jwtIssuer);
    if (url.hostname) return url.hostname;
  } catch {
    // Not a URL: a name.
  }
  return jwtIssuer;
}
