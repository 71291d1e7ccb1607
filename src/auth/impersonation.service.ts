import { Inject, Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import type { ConnectionInfo } from '../shared/connection.js';
import { AppError, ErrorCode, notFound } from '../shared/errors/app-error.js';
import { UsersService } from '../users/users.service.js';
import { LoginResult, LoginService } from './login.service.js';

/** Impersonation sessions are short: an hour at most (less if SESSION_TTL is shorter). */
const IMPERSONATION_TTL = 3600;

const forbidden = (message: string): AppError => new AppError(ErrorCode.FORBIDDEN, message);

/**
 * Lets an admin act as a user: a session of the target, marked with the impersonator, whose tokens
 * say `isImpersonated: true` and `act: { sub: <admin> }` (refreshes keep the mark). Never oneself,
 * another admin or a deactivated user, and never from a session that is itself impersonated.
 */
@Injectable()
export class ImpersonationService {
  constructor(
    private readonly users: UsersService,
    private readonly login: LoginService,
    private readonly events: DomainEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async impersonate(actor: AuthContext, targetId: string, connection?: ConnectionInfo): Promise<LoginResult> {
    if (actor.isImpersonated) throw forbidden('an impersonated session cannot impersonate');
    if (!actor.roles.includes('admin')) throw forbidden('insufficient role');
    if (targetId === actor.userId) throw forbidden('you cannot impersonate yourself');
    const target = await this.users.findById(targetId);
    if (!target) throw notFound('user not found');
    if (target.roles.includes('admin')) throw forbidden('an admin cannot be impersonated');
    if (target.deactivatedAt) throw forbidden('a deactivated user cannot be impersonated');
    const result = await this.login.startSession(target, {
      impersonator: { userId: actor.userId, sessionId: actor.sessionId },
      connection,
      ttl: Math.min(IMPERSONATION_TTL, this.config.sessions.defaultTtl),
    });
    this.events.publish('user.impersonated', {
      userId: target.id,
      actorId: actor.userId,
      sessionId: result.sessionId,
      ip: connection?.ip ?? null,
      userAgent: connection?.userAgent ?? null,
    });
    return result;
  }
}
