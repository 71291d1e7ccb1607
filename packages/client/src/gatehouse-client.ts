import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ClientProxyFactory, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, from, timeout, TimeoutError } from 'rxjs';

import { clientProxyOptions, patternName } from './gatehouse-connection.js';
import type { ClientTlsOptions } from './redis-connection.js';

/** gatehouse's public `User`. */
export interface GatehouseUser {
  id: string;
  email: string;
  username: string | null;
  emailVerified: boolean;
  roles: string[];
  deactivated: boolean;
  /** ISO-8601. */
  createdAt: string;
  /** ISO-8601. */
  updatedAt: string;
  /** From gatehouse release 2 on. */
  displayName?: string | null;
  /** From gatehouse release 2 on. */
  mfaEnabled?: boolean;
}

/** What `auth.verify` answers for a live access token: the caller, with current roles and user. */
export interface VerifiedCaller {
  userId: string;
  sessionId: string;
  roles: string[];
  isImpersonated: boolean;
  /** Every claim of the token. */
  claims: Record<string, unknown>;
  user: GatehouseUser;
}

/** gatehouse's error body, on every route and message pattern. */
export interface GatehouseErrorBody {
  statusCode: number;
  /** Stable and machine-readable: `UNAUTHORIZED`, `NOT_FOUND`, `VALIDATION_FAILED`, `SERVICE_UNAVAILABLE`… */
  code: string;
  message: string;
  /** With `VALIDATION_FAILED`. */
  errors?: Array<{ field: string; messages: string[] }>;
  /** With `TOO_MANY_REQUESTS`, seconds. */
  retryAfter?: number;
}

/** A call gatehouse refused (its error body), or could not be made (503 `SERVICE_UNAVAILABLE`). */
export class GatehouseClientError extends Error {
  override readonly name = 'GatehouseClientError';

  constructor(
    readonly body: GatehouseErrorBody,
    options?: { cause?: unknown },
  ) {
    super(body.message, options);
  }
}

/**
 * Where and how to reach gatehouse. `prefix` (Redis only) is gatehouse's REDIS_PATTERN_PREFIX:
 * calls go to `<prefix>.auth.verify` and so on; TCP patterns carry none.
 */
export type GatehouseClientOptions = (
  | { transport: 'tcp'; host: string; port: number; tls?: ClientTlsOptions }
  | { transport: 'redis'; url: string; tls?: ClientTlsOptions; prefix?: string }
) & {
  /** How long a call may take, connecting included, before it fails with 503. Default 5000. */
  timeoutMs?: number;
};

const DEFAULT_TIMEOUT_MS = 5000;

function isErrorBody(value: unknown): value is GatehouseErrorBody {
  if (!value || typeof value !== 'object' || value instanceof Error) return false;
  const { statusCode, code, message } = value as Record<string, unknown>;
  return typeof statusCode === 'number' && typeof code === 'string' && typeof message === 'string';
}

const unavailable = (message: string, cause?: unknown): GatehouseClientError =>
  new GatehouseClientError({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message }, cause === undefined ? undefined : { cause });

/**
 * A typed client for gatehouse's own message patterns, over TCP or Redis. Standalone
 * (`await GatehouseClient.connect(options)`, then `close()`) or injected through
 * `GatehouseClientModule`. Every failure rejects with a `GatehouseClientError`.
 */
export class GatehouseClient implements OnApplicationShutdown {
  private readonly logger = new Logger('GatehouseClient');
  private readonly proxy: ClientProxy;
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private closed = false;

  private constructor(options: GatehouseClientOptions) {
    const prefix = 'prefix' in options ? options.prefix : undefined;
    // gatehouse namespaces only its Redis channels: a prefixed pattern would find no TCP handler.
    if (options.transport === 'tcp' && prefix) throw new Error('gatehouse/client: prefix applies to the Redis transport only');
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('gatehouse/client: timeoutMs must be a positive number');
    this.proxy = ClientProxyFactory.create(clientProxyOptions(options));
    this.timeoutMs = timeoutMs;
    this.prefix = prefix ?? '';
    if (options.tls?.rejectUnauthorized === false)
      this.logger.warn('TLS certificate verification is off, so anyone on the path can pose as gatehouse');
  }

  /**
   * A client for these options. Throws at once on bad options; if gatehouse is not reachable yet it
   * still resolves (with a warning), and each call tries to connect again.
   */
  static async connect(options: GatehouseClientOptions): Promise<GatehouseClient> {
    const client = new GatehouseClient(options);
    try {
      await firstValueFrom(from(client.proxy.connect()).pipe(timeout(client.timeoutMs)));
    } catch (error) {
      client.logger.warn(`gatehouse not reachable yet (${describe(error)}); every call tries again`);
    }
    return client;
  }

  /** `auth.verify`: the caller of a live access token; 401 `UNAUTHORIZED` for any token REST would refuse, a revoked session included. */
  verify(accessToken: string): Promise<VerifiedCaller> {
    return this.send('auth.verify', { accessToken });
  }

  /** `users.findById`: the user, or null when there is none. */
  findUserById(id: string): Promise<GatehouseUser | null> {
    return this.send('users.findById', { id });
  }

  /** `users.findByEmail`: the user with this address (normalised by gatehouse), or null. */
  findUserByEmail(email: string): Promise<GatehouseUser | null> {
    return this.send('users.findByEmail', { email });
  }

  /** `sessions.revoke`: ends a session at once; 404 `NOT_FOUND` when it is unknown or already ended. */
  revokeSession(sessionId: string): Promise<{ revoked: true }> {
    return this.send('sessions.revoke', { sessionId });
  }

  /** Any other gatehouse pattern (API.md), with the same prefix, timeout and errors. */
  async send<T>(pattern: string, payload: Record<string, unknown>): Promise<T> {
    if (this.closed) throw unavailable('gatehouse client is closed');
    try {
      return await firstValueFrom(this.proxy.send<T>(patternName(pattern, this.prefix), payload).pipe(timeout(this.timeoutMs)));
    } catch (error) {
      if (isErrorBody(error)) throw new GatehouseClientError({ ...error });
      if (error instanceof TimeoutError) throw unavailable(`gatehouse did not answer ${pattern} within ${this.timeoutMs} ms`, error);
      // Unreachable, connection lost, or a reply without gatehouse's error shape (Nest's "Internal server error").
      throw unavailable(`gatehouse unavailable for ${pattern}: ${describe(error)}`, error);
    }
  }

  /** Closes the connection; later calls reject with 503. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.proxy.close();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}

function describe(error: unknown): string {
  // A refused dual-stack connect is an AggregateError without a message: its code says more.
  if (error instanceof Error) return error.message || (error as { code?: string }).code || error.name;
  if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string')
    return (error as { message: string }).message;
  return String(error);
}
