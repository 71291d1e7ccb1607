import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { type ClientOptions, ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { Redis } from 'ioredis';
import { verify as verifySignature } from 'node:crypto';
import { firstValueFrom, timeout } from 'rxjs';
import { AUTH_CLIENT_OPTIONS, type AuthClientOptions, type AuthenticatedUser, type AuthErrorBody } from './client-options.js';
import { JwksKeyStore } from './jwks-key-store.js';
import { redisConnectionOptions } from './redis-connection.js';

/** A refusal, with the body gatehouse itself would answer. */
export class AuthClientError extends Error {
  constructor(readonly body: AuthErrorBody) {
    super(body.message);
  }
}

const unauthorized = (message = 'invalid access token'): AuthClientError =>
  new AuthClientError({ statusCode: 401, code: 'UNAUTHORIZED', message });

const MAX_CACHED = 20_000;

function decodePart(part: string | undefined): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw unauthorized();
}

/**
 * Verifies gatehouse access tokens in a sibling app: offline against the JWKS (signature with the
 * key the kid names and only its algorithm, typ, iss, aud, exp, iat, nbf, sub, sid), plus the
 * optional live check (`auth.verify`) or pushed deny-list of revoked sessions.
 */
@Injectable()
export class TokenVerifier implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('AuthClient');
  private readonly verified = new Map<string, { user: AuthenticatedUser; exp: number; kid: string }>();
  private readonly revokedSessions = new Map<string, number>();
  private live?: ClientProxy;
  private subscriber?: Redis;

  constructor(
    @Inject(AUTH_CLIENT_OPTIONS) private readonly options: AuthClientOptions,
    private readonly keys: JwksKeyStore,
  ) {}

  async onModuleInit(): Promise<void> {
    // Connection settings first, so a bad URL stops the app before anything is fetched.
    const live = this.options.live;
    const revocations = this.options.revocations;
    const liveOptions: ClientOptions | undefined = !live ? undefined : live.transport === 'tcp'
      ? { transport: Transport.TCP, options: { host: live.host, port: live.port, ...(live.tls ? { tlsOptions: { ...live.tls } } : {}) } }
      : { transport: Transport.REDIS, options: redisConnectionOptions(live.url, live.tls) };
    const subscriberOptions = revocations ? redisConnectionOptions(revocations.redisUrl, revocations.tls) : undefined;
    for (const [what, tls] of [['live mode', live?.tls], ['revocations', revocations?.tls]] as const) {
      if (tls?.rejectUnauthorized === false) this.logger.warn(`${what}: TLS certificate verification is off, so anyone on the path can pose as the server`);
    }
    await this.keys.refresh();
    if (liveOptions) this.live = ClientProxyFactory.create(liveOptions);
    if (revocations && subscriberOptions) {
      const channel = `${revocations.prefix ?? 'gatehouse'}.events`;
      // Not awaited: the app starts while Redis is down (then behaves as offline mode) and subscribes
      // once Redis answers; ioredis re-subscribes after every reconnect.
      // ioredis is an optional peer: loaded only when revocations are configured.
      const { Redis: RedisClient } = await import('ioredis');
      this.subscriber = new RedisClient(subscriberOptions);
      this.subscriber.on('error', (error: Error) => this.logger.warn(`revocation events: ${error.message}`));
      this.subscriber.on('message', (_channel: string, message: string) => this.onEvent(message));
      this.subscriber.subscribe(channel).catch((error: Error) => this.logger.warn(`revocation events not subscribed: ${error.message}`));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.live?.close();
    this.subscriber?.disconnect();
  }

  async verify(token: string | undefined): Promise<AuthenticatedUser> {
    if (!token) throw unauthorized('authentication required');
    if (this.live) return this.verifyLive(token);
    const now = Date.now();
    const cached = this.verified.get(token);
    // A cached verification holds only while its key is still published (a retired key's tokens stop).
    const user = cached && cached.exp > now && this.keys.isCurrent(cached.kid) ? cached.user : await this.verifyOffline(token, now);
    const revokedUntil = this.revokedSessions.get(user.sessionId);
    if (revokedUntil !== undefined && revokedUntil > now) throw unauthorized('session is no longer valid');
    return user;
  }

  private async verifyOffline(token: string, now: number): Promise<AuthenticatedUser> {
    const parts = token.split('.');
    if (parts.length !== 3) throw unauthorized();
    const header = decodePart(parts[0]);
    const claims = decodePart(parts[1]);
    if (header.typ !== 'at+jwt' || typeof header.kid !== 'string') throw unauthorized();
    const key = await this.keys.get(header.kid);
    if (!key && !this.keys.hasKeys) {
      // Not the token's fault: gatehouse's keys could not be fetched yet.
      throw new AuthClientError({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'authentication keys unavailable' });
    }
    if (!key || header.alg !== key.alg) throw unauthorized();
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2] ?? '', 'base64url');
    const ok = key.alg === 'ES256'
      ? verifySignature('sha256', signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature)
      : verifySignature('sha256', signed, key.key, signature);
    if (!ok) throw unauthorized();
    const tolerance = (this.options.clockTolerance ?? 30) * 1000;
    const { iss, aud, exp, iat, nbf, sub, sid } = claims;
    if (iss !== this.options.issuer) throw unauthorized();
    if (this.options.audience !== undefined && !(aud === this.options.audience || (Array.isArray(aud) && aud.includes(this.options.audience)))) throw unauthorized();
    // gatehouse always sets exp, iat and sid: a token without one was not minted as an access token.
    if (typeof exp !== 'number' || typeof iat !== 'number') throw unauthorized();
    if (exp * 1000 + tolerance <= now) throw unauthorized('access token expired');
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 - tolerance > now)) throw unauthorized();
    if (typeof sub !== 'string' || !sub || typeof sid !== 'string' || !sid) throw unauthorized();
    const act = claims.act as { sub?: unknown } | undefined;
    const user: AuthenticatedUser = Object.freeze({
      userId: sub,
      sessionId: sid,
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
      isImpersonated: claims.isImpersonated === true,
      impersonatorId: typeof act?.sub === 'string' ? act.sub : null,
      claims: Object.freeze(claims),
    });
    if (this.verified.size >= MAX_CACHED) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, { user, exp: exp * 1000 + tolerance, kid: key.kid });
    return user;
  }

  private async verifyLive(token: string): Promise<AuthenticatedUser> {
    const live = this.live!;
    try {
      const reply = await firstValueFrom(
        live.send<{ userId: string; sessionId: string; roles: string[]; isImpersonated: boolean; claims: Record<string, unknown> }>('auth.verify', { accessToken: token })
          .pipe(timeout(this.options.live?.timeoutMs ?? 5000)),
      );
      const act = reply.claims.act as { sub?: unknown } | undefined;
      return {
        userId: reply.userId,
        sessionId: reply.sessionId,
        roles: reply.roles,
        isImpersonated: reply.isImpersonated,
        impersonatorId: typeof act?.sub === 'string' ? act.sub : null,
        claims: reply.claims,
      };
    } catch (error) {
      const body = error as Partial<AuthErrorBody> | undefined;
      if (body && body.code === 'UNAUTHORIZED') throw unauthorized(body.message);
      this.logger.warn(`auth.verify failed: ${(error as Error).message ?? JSON.stringify(error)}`);
      throw new AuthClientError({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'authentication service unavailable' });
    }
  }

  private onEvent(message: string): void {
    let event: { type?: unknown; sessionId?: unknown };
    try {
      event = JSON.parse(message) as { type?: unknown; sessionId?: unknown };
    } catch {
      return;
    }
    if (event.type !== 'session.revoked' || typeof event.sessionId !== 'string') return;
    const now = Date.now();
    // An entry must outlive every access token of the session: its TTL plus the leeway.
    // Re-inserted at the end, so the map stays ordered by expiry for the sweep below.
    this.revokedSessions.delete(event.sessionId);
    this.revokedSessions.set(event.sessionId, now + ((this.options.accessTokenTtl ?? 900) + (this.options.clockTolerance ?? 30)) * 1000);
    for (const [sid, until] of this.revokedSessions) {
      if (until > now) break;
      this.revokedSessions.delete(sid);
    }
  }
}
