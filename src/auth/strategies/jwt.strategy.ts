import type { IncomingMessage } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';

import { APP_CONFIG, type AppConfig } from '../../platform/config/app-config.js';
import type { AuthContext } from '../../shared/access/auth-context.js';
import { unauthorized } from '../../shared/errors/app-error.js';
import { ACCESS_TOKEN_TYPE } from '../../tokens/access-tokens.service.js';
import { SigningKeysService } from '../../tokens/signing-keys.service.js';
import { accessTokenCookie } from '../auth-cookies.js';
import { AuthStateService } from '../auth-state.service.js';
import { VerifiedTokensCache } from '../verified-tokens.cache.js';

interface DecodedToken {
  header: { alg?: string; kid?: string; typ?: string };
  payload: Record<string, unknown>;
}

/** Allowed leeway on exp and nbf, seconds. */
const CLOCK_TOLERANCE = 30;

/**
 * Verifies a bearer access token: signature by the key its kid names (and only with that key's
 * algorithm, so `none` and HS256-with-a-public-key are refused), iss, aud, exp, nbf, typ, and then
 * the live session. Used for HTTP requests and, through the guard, for message patterns.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    keys: SigningKeysService,
    private readonly authState: AuthStateService,
    private readonly verified: VerifiedTokensCache,
  ) {
    super({
      jwtFromRequest: bearerToken,
      secretOrKeyProvider: (_req: IncomingMessage, rawJwt: string, done: (err: unknown, key?: string | Buffer) => void) => {
        const header = decodeHeader(rawJwt);
        if (!header?.kid || typeof header.alg !== 'string') return done(unauthorized('invalid access token'));
        const alg = header.alg;
        keys.verificationKey(header.kid).then(
          // jsonwebtoken takes the parsed KeyObject (fast path); the typings only know strings and Buffers.
          (key) => (key && key.algorithm === alg ? done(null, key.key as unknown as Buffer) : done(unauthorized('invalid access token'))),
          (error: unknown) => done(error),
        );
      },
      algorithms: config.jwt.algorithm === 'HS256' ? ['HS256'] : ['ES256', 'RS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: CLOCK_TOLERANCE, complete: true },
      passReqToCallback: true,
    });
  }

  async validate(request: IncomingMessage, decoded: DecodedToken): Promise<AuthContext> {
    if (decoded.header.typ !== ACCESS_TOKEN_TYPE || !decoded.header.kid) throw unauthorized('invalid access token');
    const token = bearerToken(request);
    if (token) this.verified.set(token, decoded.header.kid, decoded.payload);
    return this.authState.resolve(decoded.payload);
  }
}

const fromHeader = ExtractJwt.fromAuthHeaderAsBearerToken() as (request: { headers: IncomingMessage['headers'] }) => string | null;

/** The access token of a request: the bearer header, or (in cookie mode) the gh_access cookie. */
export function bearerToken(request: { headers: IncomingMessage['headers']; cookies?: Record<string, string | undefined> }): string | null {
  return fromHeader(request) ?? accessTokenCookie(request) ?? null;
}

function decodeHeader(token: string): DecodedToken['header'] | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
    return header && typeof header === 'object' ? header : undefined;
  } catch {
    return undefined;
  }
}
