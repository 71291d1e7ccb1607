import { Injectable } from '@nestjs/common';

import { SessionsService } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { unauthorized } from '../shared/errors/app-error.js';
import { withoutAdmin } from '../tokens/access-tokens.service.js';
import { toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
import { AuthStateCache } from './auth-state.cache.js';

/**
 * The second half of verifying an access token (the signature being the first): its session must
 * still be live and its user active. This is what makes logout and revocation bite at once.
 */
@Injectable()
export class AuthStateService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly cache: AuthStateCache,
  ) {}

  async resolve(claims: Record<string, unknown>): Promise<AuthContext> {
    const cached = this.resolveCached(claims);
    if (cached) return cached;
    const { sub, sid } = claims as { sub: string; sid: string };
    const before = this.cache.snapshot();
    const [session, user] = await Promise.all([this.sessions.findLive(sid, sub), this.users.findById(sub)]);
    if (!session || !user || user.deactivatedAt) throw unauthorized('session is no longer valid');
    const context: Omit<AuthContext, 'claims'> = {
      userId: user.id,
      sessionId: session.id,
      // The current roles, not the token's: a demoted admin loses access at once. An impersonation
      // never has admin rights, even if its target is promoted later.
      roles: session.impersonatorId ? withoutAdmin(user.roles) : [...user.roles],
      isImpersonated: session.impersonatorId !== null,
      impersonatorId: session.impersonatorId,
      user: toPublicUser(user),
    };
    this.cache.set(context, session.expiresAt, before);
    return { ...context, claims };
  }

  /**
   * The caller from the session-state cache alone, synchronously, or undefined when the session is
   * not cached (resolve() then asks the database). Refuses the same tokens resolve() refuses.
   */
  resolveCached(claims: Record<string, unknown>): AuthContext | undefined {
    const { sub, sid, exp, iat } = claims;
    // Every token we sign has these; one without an expiry would be good for ever, whoever signed it.
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof exp !== 'number' || typeof iat !== 'number')
      throw unauthorized('invalid access token');
    const cached = this.cache.get(sid);
    if (!cached) return undefined;
    if (cached.userId !== sub) throw unauthorized('session is no longer valid');
    return { ...cached, claims };
  }
}
