import { Injectable } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { MfaChallengesService } from '../mfa/mfa-challenges.service.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import type { MessageTransport } from '../platform/rpc/observed-handlers.js';
import type { SessionEntity } from '../sessions/session.entity.js';
import type { SessionAssurance } from '../sessions/sessions.repository.js';
import { SessionsService, type RotatedSession } from '../sessions/sessions.service.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { ConnectionInfo, normalizeIp } from '../shared/connection.js';
import { sha256Hex } from '../shared/crypto.js';
import { AppError, ErrorCode, invalidCredentials, notFound, unauthorized } from '../shared/errors/app-error.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import type { UserEntity } from '../users/user.entity.js';
import { PublicUser, toPublicUser } from '../users/user.mapper.js';
import { UsersService } from '../users/users.service.js';
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

/**
 * The assurance of a session opened without an explicit one: a password login proved `pwd`; a
 * session granted to a trusted service or started by an impersonating admin proved no factor of the
 * user's (empty `amr`), so it never counts as a recent or second-factor authentication.
 */
function assuranceOf(opts: { checkedPasswordHash?: string }): SessionAssurance {
  return opts.checkedPasswordHash !== undefined ? { amr: ['pwd'], aal: 1 } : { amr: [], aal: 1 };
}

/** The answer of a first factor for a user with a second factor: no tokens, a step to complete. */
export interface MfaRequired {
  mfaRequired: true;
  /** Single use, for POST /auth/mfa/verify (auth.mfa.verify). */
  mfaToken: string;
  methods: SecondFactorMethod[];
  /** Seconds the mfaToken lives. */
  expiresIn: number;
}

export type SecondFactorMethod = 'totp' | 'recovery_code';

/** A first factor that proved the user: what it proved, and what the session should be. */
export interface FirstFactor {
  /** RFC 8176 methods it proved, e.g. ["pwd"]. */
  amr: string[];
  ttl?: number;
  connection?: ConnectionInfo;
  /** For a password: the hash checked (the session insert's guard, see startSession). */
  checkedPasswordHash?: string;
}

const deactivated = (): AppError => new AppError(ErrorCode.USER_DEACTIVATED, 'this account is deactivated');

/** Turns a proven identity into a session and a token pair; refreshes and ends sessions. */
@Injectable()
export class LoginService {
  constructor(
    private readonly credentials: CredentialsService,
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
    private readonly accessTokens: AccessTokensService,
    private readonly events: DomainEvents,
    private readonly metrics: MetricsService,
    private readonly challenges: MfaChallengesService,
  ) {}

  async loginWithPassword(login: PasswordLogin & { ttl?: number }, connection?: ConnectionInfo): Promise<LoginResult | MfaRequired> {
    const { user, checkedPasswordHash } = await this.credentials.verify(login, connection);
    return this.completeFirstFactor(user, { amr: ['pwd'], ttl: login.ttl, connection, checkedPasswordHash });
  }

  /**
   * The gate every first factor goes through (a trusted service's loginWithUser and an admin's
   * impersonation excepted: they prove no factor of the user's): a user with a confirmed second
   * factor gets a single-use step to complete instead of tokens; anyone else gets the session.
   */
  async completeFirstFactor(user: Omit<UserEntity, 'passwordHash'>, factor: FirstFactor): Promise<LoginResult | MfaRequired> {
    // Read with the user's row: no statement of its own for the many users without a second factor.
    if (!user.mfaEnabled) {
      return this.startSession(user, { ...factor, assurance: { amr: factor.amr, aal: 1 } });
    }
    const challenge = await this.challenges.create(user.id, factor.amr.join(' '), {
      // Capped when the session opens, as for any login.
      ...(factor.ttl !== undefined ? { ttl: factor.ttl } : {}),
      ip: normalizeIp(factor.connection?.ip),
      userAgent: factor.connection?.userAgent?.slice(0, 512) ?? null,
      amr: factor.amr,
      ...(factor.checkedPasswordHash !== undefined ? { passwordFingerprint: sha256Hex(factor.checkedPasswordHash) } : {}),
    });
    this.events.publish('user.mfa_challenged', {
      userId: user.id,
      ip: factor.connection?.ip ?? null,
      userAgent: factor.connection?.userAgent ?? null,
      details: { amr: factor.amr },
    });
    return { mfaRequired: true, mfaToken: challenge.mfaToken, methods: ['totp', 'recovery_code'], expiresIn: challenge.expiresIn };
  }

  /**
   * For trusted callers: a session for a user without a password (accounts-js's loginWithUser),
   * audited as its own event type with the transport it came over.
   */
  async loginWithUser(userId: string, connection: ConnectionInfo | undefined, transport: MessageTransport): Promise<LoginResult> {
    const user = await this.users.findById(userId);
    if (!user) throw notFound('user not found');
    if (user.deactivatedAt) throw deactivated();
    return this.startSession(user, { connection, grantedTo: { transport } });
  }

  /**
   * Opens the session. With `checkedPasswordHash` (a password login), the session is refused if the
   * password changed since it was checked; any session is refused if the user was deactivated.
   */
  async startSession(
    user: Omit<UserEntity, 'passwordHash'>,
    opts: {
      ttl?: number;
      connection?: ConnectionInfo;
      impersonator?: { userId: string; sessionId: string };
      checkedPasswordHash?: string;
      /** A session granted without a password, to a trusted caller over this transport. */
      grantedTo?: { transport: MessageTransport };
      /** How the user authenticated, when not a password login alone (see assuranceOf). */
      assurance?: SessionAssurance;
    },
  ): Promise<LoginResult> {
    const passwordLogin = opts.checkedPasswordHash !== undefined;
    const issued = await this.sessions.create(user.id, { ...opts, assurance: opts.assurance ?? assuranceOf(opts) });
    if (!issued) {
      if (passwordLogin) this.metrics.loginFailed('invalid_credentials');
      if (opts.impersonator) throw unauthorized('session is no longer valid');
      throw passwordLogin ? invalidCredentials() : deactivated();
    }
    if (passwordLogin) this.metrics.loginSucceeded();
    if (!opts.impersonator) {
      this.events.publish(opts.grantedTo ? 'user.logged_in_by_service' : 'user.logged_in', {
        userId: user.id,
        sessionId: issued.session.id,
        ip: issued.session.ip,
        userAgent: issued.session.userAgent,
        details: { amr: issued.session.amr, ...(opts.grantedTo ? { transport: opts.grantedTo.transport } : {}) },
      });
    }
    return this.result(toPublicUser(user), issued.session, issued.refreshToken);
  }

  /**
   * Rotates the refresh token (one statement, no transaction) and signs the new access token after
   * it. If the answer cannot be made (the claims hook or the signature throws), the rotation is
   * undone: the presented token is not used up and the client can simply retry.
   */
  async refresh(refreshToken: string, connection?: ConnectionInfo): Promise<LoginResult> {
    const rotated = await this.sessions.rotateRefreshToken(refreshToken, connection);
    try {
      return await this.answer(rotated);
    } catch (error) {
      // Should the undo fail too (the database gone), the token stays used up: a retry within the
      // reuse interval is refused and keeps the session, a later one revokes it as a reuse.
      await this.sessions.restoreRefreshToken(refreshToken, rotated).catch(() => false);
      throw error;
    }
  }

  /** The LoginResult for a session whose refresh token was just replaced (a refresh, a re-authentication). */
  answer(rotated: RotatedSession): Promise<LoginResult> {
    return this.result(rotated.user, rotated.session, rotated.refreshToken);
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
