import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { CredentialsService } from './credentials.service.js';
import { LoginResult, LoginService } from './login.service.js';
import { SecondFactorService } from './second-factor.service.js';

/** What a signed-in caller proves again. */
export interface ReauthenticationProof {
  password?: string;
  /** A code of the user's confirmed TOTP. */
  code?: string;
}

/**
 * A signed-in user proves a factor again, for the routes that need a recent one: the same session
 * gets `auth_time` now and a new token pair. Wrong proofs count toward the lockout like a login's.
 */
@Injectable()
export class ReauthenticationService {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly sessions: SessionsService,
    private readonly login: LoginService,
    private readonly events: DomainEvents,
    private readonly secondFactor: SecondFactorService,
  ) {}

  async reauthenticate(auth: AuthContext, proof: ReauthenticationProof): Promise<LoginResult> {
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot re-authenticate');
    const amr = await this.prove(auth.userId, proof);
    const rotated = await this.sessions.reauthenticate(auth, amr);
    this.events.publish('user.reauthenticated', {
      userId: auth.userId,
      sessionId: auth.sessionId,
      ip: rotated.session.ip,
      userAgent: rotated.session.userAgent,
      details: { amr },
    });
    return this.login.answer(rotated);
  }

  /** The RFC 8176 methods the proof proved; refused (and counted toward a lockout) when wrong. */
  private async prove(userId: string, proof: ReauthenticationProof): Promise<string[]> {
    if (proof.password !== undefined) {
      await this.credentials.confirmPassword(userId, proof.password);
      return ['pwd'];
    }
    if (proof.code !== undefined) {
      await this.secondFactor.proveTotp(userId, proof.code);
      return ['otp'];
    }
    throw new AppError(ErrorCode.INVALID_CREDENTIALS, 'nothing was proven');
  }
}
