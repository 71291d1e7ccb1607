import { verify as verifySignature } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory } from '@nestjs/microservices';
import type { Redis } from 'ioredis';
import { firstValueFrom, timeout } from 'rxjs';

import { assuranceOf, assuranceProblem, type AssuranceRequirement } from './assurance.js';
import {
  AUTH_CLIENT_OPTIONS,
  type AuthClientOptions,
  type AuthenticatedUser,
  type AuthErrorBody,
  type TokenSource,
} from './client-options.js';
import { clientProxyOptions } from './gatehouse-connection.js';
import { JwksKeyStore } from './jwks-key-store.js';
import { redisConnectionOptions } from './redis-connection.js';
import { AuthClientError, REFUSAL_REASONS, type RefusalReason } from './refusals.js';

// It was defined here before refusals.ts: still importable from this file.
export { AuthClientError } from './refusals.js';

const MAX_CACHED = 20_000;
const ACCESS_TOKEN_TYPE = 'at+jwt';
/** gatehouse's answer for a revoked session or a deactivated user (its auth-state check). */
const GATEHOUSE_REVOKED_MESSAGE = 'session is no longer valid';

type Claims = Record<string, unknown>;
/** Why a token is refused, for the refusal's reason and the operators' log line. */
type Problem = { reason: RefusalReason; detail?: string };

/** A value from a token, quoted and cut short for a log line (tokens are attacker-controlled). */
function quote(value: unknown): string {
  if (value === undefined) return 'none';
  // JSON text: quotes strings and escapes control characters, so a claim cannot forge log lines.
  const text = JSON.stringify(value) ?? typeof value;
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function decodePart(part: string | undefined): Claims | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Claims;
  } catch {
    // fall through
  }
  return undefined;
}

/** A token's header and claims, decoded but not yet trusted. */
export function decodeToken(token: string): { parts: string[]; header: Claims; claims: Claims } | Problem {
  const parts = token.split('.');
  if (parts.length !== 3) return { reason: 'malformed', detail: `${parts.length} parts, expected 3` };
  const header = decodePart(parts[0]);
  const claims = decodePart(parts[1]);
  if (!header || !claims) return { reason: 'malformed', detail: 'the header or the claims are not base64url JSON objects' };
  return { parts, header, claims };
}

/**
 * Everything about a token that needs no key: typ, iss, aud, the claims gatehouse always sets, exp
 * and nbf. Refusing on these before the signature is checked is safe (nothing is accepted on them
 * alone) and names the useful reason: a token of another issuer reads "issuer", not "unknown kid".
 */
export function claimsProblem(
  header: Claims,
  claims: Claims,
  options: Pick<AuthClientOptions, 'issuer' | 'audience' | 'clockTolerance'>,
  now: number,
): Problem | undefined {
  if (header.typ !== ACCESS_TOKEN_TYPE) return { reason: 'type', detail: `typ ${quote(header.typ)}, expected "${ACCESS_TOKEN_TYPE}"` };
  const { iss, aud, exp, iat, nbf, sub, sid } = claims;
  if (iss !== options.issuer) return { reason: 'issuer', detail: `expected issuer ${quote(options.issuer)}, the token has ${quote(iss)}` };
  const audience = options.audience;
  if (audience !== undefined && !(aud === audience || (Array.isArray(aud) && aud.includes(audience)))) {
    return { reason: 'audience', detail: `expected audience ${quote(audience)}, the token has ${quote(aud)}` };
  }
  // gatehouse always sets exp, iat and sid: a token without one was not minted as an access token.
  if (typeof exp !== 'number' || typeof iat !== 'number') return { reason: 'claims', detail: 'exp and iat must be numbers' };
  const tolerance = (options.clockTolerance ?? 30) * 1000;
  if (exp * 1000 + tolerance <= now)
    return { reason: 'expired', detail: `expired at ${iso(exp * 1000)} (now ${iso(now)}, leeway ${tolerance / 1000} s)` };
  if (nbf !== undefined && typeof nbf !== 'number') return { reason: 'claims', detail: 'nbf must be a number' };
  if (nbf !== undefined && nbf * 1000 - tolerance > now)
    return { reason: 'notYetValid', detail: `not valid before ${iso(nbf * 1000)} (now ${iso(now)}, leeway ${tolerance / 1000} s)` };
  if (typeof sub !== 'string' || !sub || typeof sid !== 'string' || !sid)
    return { reason: 'claims', detail: 'sub and sid must be non-empty strings' };
  return undefined;
}

/** What `auth.verify` answers (gatehouse's VerifiedAccessToken). */
interface VerifyReply {
  userId: string;
  sessionId: string;
  roles: string[];
  isImpersonated: boolean;
  claims: Claims;
  user?: { email?: string; username?: string | null };
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
  private readonly counts = Object.fromEntries(REFUSAL_REASONS.map((reason) => [reason, 0])) as Record<RefusalReason, number>;
  private live?: ClientProxy;
  private subscriber?: Redis;

  /** Where the guard reads tokens (`tokenFrom`), in order. */
  readonly tokenSources: readonly TokenSource[];

  constructor(
    @Inject(AUTH_CLIENT_OPTIONS) private readonly options: AuthClientOptions,
    private readonly keys: JwksKeyStore,
  ) {
    const from = options.tokenFrom ?? 'header';
    this.tokenSources = Array.isArray(from) ? [...(from as readonly TokenSource[])] : [from as TokenSource];
  }

  async onModuleInit(): Promise<void> {
    // Connection settings first, so a bad URL stops the app before anything is fetched.
    const live = this.options.live;
    const revocations = this.options.revocations;
    const liveOptions = live ? clientProxyOptions(live) : undefined;
    const subscriberOptions = revocations ? redisConnectionOptions(revocations.redisUrl, revocations.tls) : undefined;
    for (const [what, tls] of [
      ['live mode', live?.tls],
      ['revocations', revocations?.tls],
    ] as const) {
      if (tls?.rejectUnauthorized === false)
        this.logger.warn(`${what}: TLS certificate verification is off, so anyone on the path can pose as the server`);
    }
    // Live mode asks gatehouse and never reads the key set.
    if (!live) await this.keys.refresh();
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

  /**
   * The caller a token speaks for, or an AuthClientError (its body as gatehouse would answer; its
   * reason counted and logged at debug level).
   */
  async verify(token: string | undefined): Promise<AuthenticatedUser> {
    if (!token) throw this.refusal('missing');
    if (this.live) return this.verifyLive(token);
    const now = Date.now();
    const cached = this.verified.get(token);
    // A cached verification holds only while its key is still published (a retired key's tokens stop).
    const user = cached && cached.exp > now && this.keys.isCurrent(cached.kid) ? cached.user : await this.verifyOffline(token, now);
    const revokedUntil = this.revokedSessions.get(user.sessionId);
    if (revokedUntil !== undefined && revokedUntil > now)
      throw this.refusal('revoked', `session ${quote(user.sessionId)} was revoked (pushed event)`);
    return user;
  }

  /**
   * Refuses a caller whose token falls short of @RequireAal() (403 MFA_REQUIRED) or
   * @RequireRecentAuth() (401 REAUTH_REQUIRED); `auth_time` is judged against this clock, now.
   */
  checkAssurance(user: AuthenticatedUser, required: AssuranceRequirement): void {
    const problem = assuranceProblem(user, required, Date.now(), this.options.clockTolerance ?? 30);
    if (problem) throw this.refusal(problem.reason, problem.detail);
  }

  /** Refusals since start, by reason: a mis-set `issuer` shows as a growing `issuer` count. */
  refusals(): Record<RefusalReason, number> {
    return { ...this.counts };
  }

  /**
   * Counts and logs a refusal (debug level, never the token), tells `onRefusal`, and returns the
   * error to throw. The guard's own refusals (roles, CSRF) come here too.
   */
  refusal(reason: RefusalReason, detail?: string): AuthClientError {
    this.counts[reason] += 1;
    const error = AuthClientError.of(reason);
    this.logger.debug(`refused (${reason})${detail ? `: ${detail}` : ''}`);
    try {
      this.options.onRefusal?.({ reason, body: { ...error.body }, ...(detail ? { detail } : {}) });
    } catch {
      // A metrics hook must not change the answer.
    }
    return error;
  }

  private async verifyOffline(token: string, now: number): Promise<AuthenticatedUser> {
    const decoded = decodeToken(token);
    if ('reason' in decoded) throw this.refusal(decoded.reason, decoded.detail);
    const { parts, header, claims } = decoded;
    const problem = claimsProblem(header, claims, this.options, now);
    if (problem) throw this.refusal(problem.reason, problem.detail);
    if (typeof header.kid !== 'string') throw this.refusal('kid', 'no kid in the header');
    const key = await this.keys.get(header.kid);
    // Not the token's fault: gatehouse's keys could not be fetched yet.
    if (!key && !this.keys.hasKeys) throw this.refusal('unavailable', 'no key set fetched from jwksUrl yet');
    if (!key) throw this.refusal('kid', `unknown kid ${quote(header.kid)}: not in gatehouse's key set (is jwksUrl this issuer's?)`);
    if (header.alg !== key.alg) throw this.refusal('algorithm', `alg ${quote(header.alg)}, but key ${quote(key.kid)} is ${key.alg}`);
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2] ?? '', 'base64url');
    const ok =
      key.alg === 'ES256'
        ? verifySignature('sha256', signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature)
        : verifySignature('sha256', signed, key.key, signature);
    if (!ok) throw this.refusal('signature', `bad signature for key ${quote(key.kid)}`);
    // Checked by claimsProblem above.
    const { exp, sub, sid } = claims as { exp: number; sub: string; sid: string };
    const tolerance = (this.options.clockTolerance ?? 30) * 1000;
    const act = claims.act as { sub?: unknown } | undefined;
    const user: AuthenticatedUser = Object.freeze({
      userId: sub,
      sessionId: sid,
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
      isImpersonated: claims.isImpersonated === true,
      impersonatorId: typeof act?.sub === 'string' ? act.sub : null,
      claims: Object.freeze(claims),
      ...assuranceOf(claims),
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
    // The checks that need no key, here first: the same reasons as offline, and no round trip for
    // a token gatehouse would refuse anyway. The claims are then the ones gatehouse verifies.
    const decoded = decodeToken(token);
    if ('reason' in decoded) throw this.refusal(decoded.reason, decoded.detail);
    const problem = claimsProblem(decoded.header, decoded.claims, this.options, Date.now());
    if (problem) throw this.refusal(problem.reason, problem.detail);
    let reply: VerifyReply;
    try {
      reply = await firstValueFrom(
        live.send<VerifyReply>('auth.verify', { accessToken: token }).pipe(timeout(this.options.live?.timeoutMs ?? 5000)),
      );
    } catch (error) {
      const body = error as Partial<AuthErrorBody> | undefined;
      if (body && body.code === 'UNAUTHORIZED') {
        throw this.refusal(
          body.message === GATEHOUSE_REVOKED_MESSAGE ? 'revoked' : 'rejected',
          `gatehouse answered ${quote(body.message)}`,
        );
      }
      const message = error instanceof Error ? error.message : JSON.stringify(error);
      this.logger.warn(`auth.verify failed: ${message}`);
      throw this.refusal('unavailable', `auth.verify failed: ${message}`);
    }
    const act = reply.claims.act as { sub?: unknown } | undefined;
    return {
      userId: reply.userId,
      sessionId: reply.sessionId,
      roles: reply.roles,
      isImpersonated: reply.isImpersonated,
      impersonatorId: typeof act?.sub === 'string' ? act.sub : null,
      claims: reply.claims,
      ...assuranceOf(reply.claims),
      // Only gatehouse's answer has them: access tokens carry no email.
      ...(reply.user && typeof reply.user.email === 'string' ? { email: reply.user.email, username: reply.user.username ?? null } : {}),
    };
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
