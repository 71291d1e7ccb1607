import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { GATEHOUSE_OPTIONS, type GatehouseOptions, type RegisteredClaims } from '../platform/config/gatehouse-options.js';
import type { PublicUser } from '../users/user.mapper.js';
import { SigningKeysService } from './signing-keys.service.js';

/** The JWT header `typ` of our access tokens (RFC 9068); tokens without it are refused. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

export const withoutAdmin = (roles: string[]): string[] => roles.filter((role) => role !== 'admin');

const REGISTERED = new Set([
  'iss',
  'aud',
  'sub',
  'sid',
  'jti',
  'iat',
  'exp',
  'nbf',
  'roles',
  'isImpersonated',
  'act',
  'amr',
  'aal',
  'auth_time',
]);

@Injectable()
export class AccessTokensService {
  constructor(
    private readonly jwt: JwtService,
    private readonly keys: SigningKeysService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(GATEHOUSE_OPTIONS) private readonly options: GatehouseOptions,
  ) {}

  /** Signs an access token for a session; it never outlives the session. */
  async issue(
    user: PublicUser,
    session: { id: string; expiresAt: Date; impersonatorId: string | null; amr: string[]; aal: number; authTime: Date },
  ): Promise<{ accessToken: string; expiresAt: Date }> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = Math.min(iat + this.config.jwt.accessTokenTtl, Math.floor(session.expiresAt.getTime() / 1000));
    const claims: RegisteredClaims = {
      iss: this.config.jwt.issuer,
      ...(this.config.jwt.audience ? { aud: this.config.jwt.audience } : {}),
      sub: user.id,
      sid: session.id,
      jti: randomUUID(),
      iat,
      exp,
      // An impersonation never carries admin rights, even for a target promoted after it began.
      roles: session.impersonatorId ? withoutAdmin(user.roles) : user.roles,
      isImpersonated: session.impersonatorId !== null,
      ...(session.impersonatorId ? { act: { sub: session.impersonatorId } } : {}),
      // How and when the user authenticated (RFC 8176, OpenID Connect Core): the session's, so a
      // refresh keeps them and only a new proof of a factor (re-authentication) moves them.
      amr: session.amr,
      aal: session.aal,
      auth_time: Math.floor(session.authTime.getTime() / 1000),
    };
    const extra = this.options.createJwtPayload ? await this.options.createJwtPayload({ ...claims }, user) : {};
    const custom = Object.fromEntries(Object.entries(extra).filter(([name]) => !REGISTERED.has(name)));
    const key = this.keys.signingKey();
    const accessToken = await this.jwt.signAsync(
      { ...custom, ...claims },
      { privateKey: key.signingKey, algorithm: key.algorithm, keyid: key.kid, header: { alg: key.algorithm, typ: ACCESS_TOKEN_TYPE } },
    );
    return { accessToken, expiresAt: new Date(exp * 1000) };
  }
}
