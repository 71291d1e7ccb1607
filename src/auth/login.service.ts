import { Injectable } from '@nestjs/common';
import { AppError, ErrorCode, notFound } from '../common/app-error.js';
import { ConnectionInfo, SessionsService } from '../sessions/sessions.service.js';
import type { SessionEntity } from '../sessions/session.entity.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import type { UserEntity } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';
import { AccessTokensService } from './access-tokens.service.js';
import type { AuthContext } from './auth-context.js';
import { CredentialsService, PasswordLogin } from './credentials.service.js';

export interface LoginResult {
  sessionId: string;
  tokens: {
    accessToken: string;
    refreshToken: string;
    tokenType: 'Bearer';
    accessTokenExpiresAt: string;
    refreshTokenExpiresAt: string;
  };
  user: PublicUser;
}

/** Turns a proven identity into a session and a token pair; refreshes and ends sessions. */
@Injectable()
export class LoginService {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly accessTokens: AccessTokensService,
  ) {}

  async loginWithPassword(login: PasswordLogin & { ttl?: number }, connection?: ConnectionInfo): Promise<LoginResult> {
    const user = await this.credentials.verify(login);
    return this.startSession(user, { ttl: login.ttl, connection });
  }

  /** For trusted callers: a session for a user without a password (accounts-js's loginWithUser). */
  async loginWithUser(userId: string, connection?: ConnectionInfo): Promise<LoginResult> {
    const user = await this.users.findById(userId);
    if (!user) throw notFound('user not found');
    if (user.deactivatedAt) throw new AppError(ErrorCode.USER_DEACTIVATED, 'this account is deactivated');
    return this.startSession(user, { connection });
  }

  async startSession(user: UserEntity, opts: { ttl?: number; connection?: ConnectionInfo; impersonatorId?: string }): Promise<LoginResult> {
    const { session, refreshToken } = await this.sessions.create(user.id, opts);
    return this.result(toPublicUser(user), session, refreshToken);
  }

  async refresh(refreshToken: string): Promise<LoginResult> {
    const { session, refreshToken: next } = await this.sessions.rotateRefreshToken(refreshToken);
    const user = await this.users.findById(session.userId);
    if (!user || user.deactivatedAt) {
      await this.sessions.revoke(session.id, 'user_deactivated');
      throw new AppError(ErrorCode.INVALID_REFRESH_TOKEN, 'invalid refresh token');
    }
    return this.result(toPublicUser(user), session, next);
  }

  async logout(auth: AuthContext): Promise<void> {
    await this.sessions.revoke(auth.sessionId, 'logout');
  }

  private async result(user: PublicUser, session: SessionEntity, refreshToken: string): Promise<LoginResult> {
    const access = await this.accessTokens.issue(user, session);
    return {
      sessionId: session.id,
      tokens: {
        accessToken: access.accessToken,
        refreshToken,
        tokenType: 'Bearer',
        accessTokenExpiresAt: access.expiresAt.toISOString(),
        refreshTokenExpiresAt: session.expiresAt.toISOString(),
      },
      user,
    };
  }
}
