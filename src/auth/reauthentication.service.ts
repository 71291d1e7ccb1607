import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { CredentialsService } from './credentials.service.js';
import { LoginResult, LoginService } from './login.service.js';

/** What a signed-in caller proves again. */
export interface ReauthenticationProof {
  password?: string;
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
  ) {}

  async reauthenticate(auth: AuthContext, proof: ReauthenticationProof): Promise<LoginResult> {
    if (auth.isImpersonated) throw new AppError(ErrorCode.FORBIDDEN, 'an impersonated session cannot re-authenticate');
    if (proof.password === undefined) throw new AppError(ErrorCode.INVALID_CREDENTIALS, 'nothing was proven');
    await this.credentials.confirmPassword(auth.userId, proof.password);
    const rotated = await this.sessions.reauthenticate(auth, ['pwd']);
    this.events.publish('user.reauthenticated', {
      userId: auth.userId,
      sessionId: auth.sessionId,
      ip: rotated.session.ip,
      userAgent: rotated.session.userAgent,
      details: { amr: ['pwd'] },
    });
    return this.login.answer(rotated);
  }
}
