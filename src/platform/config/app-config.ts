import { createPrivateKey, createSecretKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';

import { isSimilarToIdentity, normalizeEmail, passwordProblems } from '../../shared/validation/normalize.js';
import { EnvironmentVariables, JwtAlgorithm, LogLevel } from './env.schema.js';

/** Thrown for a bad environment; its message is the one line printed before the process stops. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface RedisConnection {
  url: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/** The typed configuration every part of the service reads; built once from the environment. */
export interface AppConfig {
  env: 'development' | 'production' | 'test';
  /** trustProxy as Fastify takes it: false, a hop count, or proxy addresses; never `true` (that trusts the client's own header). */
  http: { host: string; port: number; trustProxy: false | number | string[] };
  rpc: { host: string; port: number; tls?: { cert: string; key: string; ca: string } };
  redis?: RedisConnection & { prefix: string };
  database: { url?: string; poolSize: number; migrationsRun: boolean };
  dataDir: string;
  appUrl: string;
  jwt: {
    algorithm: JwtAlgorithm;
    privateKey?: KeyObject;
    secret?: KeyObject;
    issuer: string;
    audience?: string;
    accessTokenTtl: number;
  };
  sessions: { defaultTtl: number; maxTtl: number; refreshReuseInterval: number };
  requireEmailVerification: boolean;
  mail: {
    smtpUrl?: string;
    from: string;
    /** Where .eml files go when no SMTP_URL is set. */
    outboxDir: string;
    pollMs: number;
    retryBaseMs: number;
    maxAttempts: number;
  };
  tokens: { passwordResetTtl: number; emailVerificationTtl: number };
  /** Seconds from a deletion request to the erasure of the account's data (0: once the notice is out). */
  accountDeletionGrace: number;
  /** GET /health/ready: per-check timeout; the outbox's due-mail age that fails readiness (0: none). */
  health: { timeoutMs: number; outboxMaxDueAgeSeconds: number };
  /** When both variables are set: this user exists at start, with role admin and a verified email. */
  bootstrapAdmin?: { email: string; password: string };
  lockout: { threshold: number; durationSeconds: number };
  /** How recent the last proof of a factor must be for a "recent" route, in seconds. */
  reauthMaxAge: number;
  /** The configured key for TOTP secrets at rest; when absent, one generated and kept in the database. */
  mfa: { encryptionKey?: KeyObject };
  rateLimitPerMinute: number;
  /** Exact origins allowed cross-origin access; empty: none. */
  corsOrigins: string[];
  /** Tokens also as HttpOnly cookies (gh_access, gh_refresh) with a double-submit CSRF cookie (gh_csrf). */
  authCookies: boolean;
  logLevel: LogLevel;
  /** How long a signal-triggered shutdown may take, in milliseconds. */
  shutdownTimeoutMs: number;
}

export const APP_CONFIG = Symbol('APP_CONFIG');

const PLACEHOLDER_SECRET = /change.?me|placeholder|example|^(secret|password)+$/i;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const vars = plainToInstance(EnvironmentVariables, { ...env });
  const [error] = validateSync(vars, { stopAtFirstError: true });
  if (error) {
    const secret = ['SECRET', 'KEY', 'SMTP_URL', 'REDIS_URL', 'DATABASE_URL'].some((s) => error.property.includes(s));
    const shown = secret ? '' : ` (got "${String(env[error.property])}")`;
    throw new ConfigError(`${error.property} ${Object.values(error.constraints ?? {})[0] ?? 'is invalid'}${shown}`);
  }
  if (vars.SESSION_TTL > vars.MAX_SESSION_TTL) {
    throw new ConfigError('SESSION_TTL must not exceed MAX_SESSION_TTL');
  }
  return {
    env: vars.NODE_ENV as AppConfig['env'],
    http: { host: vars.HOST, port: vars.PORT, trustProxy: trustProxy(vars.TRUST_PROXY) },
    rpc: { host: vars.RPC_HOST, port: vars.RPC_PORT, tls: rpcTls(vars) },
    redis: vars.REDIS_URL ? { ...parseRedisUrl(vars.REDIS_URL), prefix: vars.REDIS_PREFIX } : undefined,
    database: { url: vars.DATABASE_URL, poolSize: vars.DATABASE_POOL_SIZE, migrationsRun: vars.MIGRATIONS_RUN },
    dataDir: resolve(vars.DATA_DIR),
    appUrl: vars.APP_URL.replace(/\/+$/, ''),
    jwt: {
      algorithm: vars.JWT_ALGORITHM,
      ...jwtKeys(vars),
      issuer: vars.JWT_ISSUER ?? vars.APP_URL.replace(/\/+$/, ''),
      audience: vars.JWT_AUDIENCE,
      accessTokenTtl: vars.ACCESS_TOKEN_TTL,
    },
    sessions: {
      defaultTtl: vars.SESSION_TTL,
      maxTtl: vars.MAX_SESSION_TTL,
      refreshReuseInterval: vars.REFRESH_REUSE_INTERVAL,
    },
    requireEmailVerification: vars.REQUIRE_EMAIL_VERIFICATION,
    mail: {
      smtpUrl: vars.SMTP_URL,
      from: vars.MAIL_FROM,
      outboxDir: resolve(vars.DATA_DIR, 'mail'),
      pollMs: vars.OUTBOX_POLL_MS,
      retryBaseMs: vars.OUTBOX_RETRY_BASE_MS,
      maxAttempts: vars.OUTBOX_MAX_ATTEMPTS,
    },
    tokens: { passwordResetTtl: vars.PASSWORD_RESET_TTL, emailVerificationTtl: vars.EMAIL_VERIFICATION_TTL },
    accountDeletionGrace: vars.ACCOUNT_DELETION_GRACE,
    health: { timeoutMs: vars.HEALTH_TIMEOUT_MS, outboxMaxDueAgeSeconds: vars.HEALTH_OUTBOX_MAX_DUE_AGE },
    bootstrapAdmin: bootstrapAdmin(vars),
    lockout: { threshold: vars.LOCKOUT_THRESHOLD, durationSeconds: vars.LOCKOUT_DURATION },
    reauthMaxAge: vars.REAUTH_MAX_AGE,
    mfa: { encryptionKey: mfaEncryptionKey(vars) },
    rateLimitPerMinute: vars.RATE_LIMIT_PER_MINUTE,
    corsOrigins: corsOrigins(vars.CORS_ORIGINS),
    authCookies: vars.AUTH_COOKIES,
    logLevel: vars.LOG_LEVEL,
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT * 1000,
  };
}

function jwtKeys(vars: EnvironmentVariables): { privateKey?: KeyObject; secret?: KeyObject } {
  if (vars.JWT_ALGORITHM === 'HS256') {
    if (vars.JWT_PRIVATE_KEY) throw new ConfigError('JWT_PRIVATE_KEY is for ES256/RS256; HS256 takes JWT_SECRET');
    if (!vars.JWT_SECRET) throw new ConfigError('JWT_SECRET is required when JWT_ALGORITHM is HS256');
    if (Buffer.byteLength(vars.JWT_SECRET) < 32) throw new ConfigError('JWT_SECRET must be at least 32 bytes');
    if (vars.NODE_ENV === 'production' && PLACEHOLDER_SECRET.test(vars.JWT_SECRET)) {
      throw new ConfigError('JWT_SECRET looks like a placeholder; set a random secret in production');
    }
    // Parsed once: jsonwebtoken re-parses string keys on every call.
    return { secret: createSecretKey(Buffer.from(vars.JWT_SECRET, 'utf8')) };
  }
  if (vars.JWT_SECRET) throw new ConfigError(`JWT_SECRET is for HS256; ${vars.JWT_ALGORITHM} takes JWT_PRIVATE_KEY`);
  if (!vars.JWT_PRIVATE_KEY) return {};
  let key: KeyObject;
  try {
    key = createPrivateKey(vars.JWT_PRIVATE_KEY.replace(/\\n/g, '\n'));
  } catch {
    throw new ConfigError('JWT_PRIVATE_KEY is not a readable PEM private key');
  }
  if (vars.JWT_ALGORITHM === 'ES256' && (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw new ConfigError('JWT_PRIVATE_KEY must be an EC P-256 key for ES256');
  }
  if (vars.JWT_ALGORITHM === 'RS256' && (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)) {
    throw new ConfigError('JWT_PRIVATE_KEY must be an RSA key of at least 2048 bits for RS256');
  }
  return { privateKey: key };
}

/**
 * MFA_ENCRYPTION_KEY: exactly 32 bytes in (standard or URL-safe) base64. Held as a KeyObject, which
 * prints as its size only, so the key cannot reach a log line by accident.
 */
function mfaEncryptionKey(vars: EnvironmentVariables): KeyObject | undefined {
  const value = vars.MFA_ENCRYPTION_KEY?.trim();
  if (value === undefined) return undefined;
  const bytes = Buffer.from(value, 'base64');
  const canonical = (text: string): string => text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value) || canonical(bytes.toString('base64')) !== canonical(value) || bytes.length !== 32) {
    throw new ConfigError('MFA_ENCRYPTION_KEY must be 32 bytes in base64 (e.g. openssl rand -base64 32)');
  }
  if (vars.NODE_ENV === 'production' && looksLikePlaceholderKey(value, bytes)) {
    throw new ConfigError('MFA_ENCRYPTION_KEY looks like a placeholder; set 32 random bytes in production');
  }
  return createSecretKey(bytes);
}

/**
 * A key someone typed rather than drew: placeholder words, a phrase (32 random bytes are all
 * printable ASCII with a chance of about 1e-14), or a repeated pattern such as all zeros.
 */
function looksLikePlaceholderKey(value: string, bytes: Buffer): boolean {
  const printable = bytes.every((b) => b >= 0x20 && b < 0x7f);
  return PLACEHOLDER_SECRET.test(value) || printable || new Set(bytes).size < 16;
}

/**
 * With `true`, Fastify would take the leftmost X-Forwarded-For entry, which the client writes itself;
 * so `true` means one hop: the address the nearest proxy appended.
 */
function trustProxy(value: string): false | number | string[] {
  const v = value.trim().toLowerCase();
  if (v === 'false' || v === '0') return false;
  if (v === 'true') return 1;
  if (/^\d+$/.test(v)) return Number(v);
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** PEM text, or the path of a file holding it. */
function pem(name: string, value: string): string {
  const text = value.includes('-----BEGIN') ? value.replace(/\\n/g, '\n') : readPem(name, value);
  if (!text.includes('-----BEGIN')) throw new ConfigError(`${name} is neither PEM text nor a readable PEM file`);
  return text;
}

function readPem(name: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError(`${name} is neither PEM text nor a readable PEM file`);
  }
}

function rpcTls(vars: EnvironmentVariables): AppConfig['rpc']['tls'] {
  const { RPC_TLS_CERT: cert, RPC_TLS_KEY: key, RPC_TLS_CA: ca } = vars;
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key || !ca)
    throw new ConfigError(
      'RPC_TLS_CERT, RPC_TLS_KEY and RPC_TLS_CA go together: TLS on the TCP listener always requires client certificates',
    );
  return { cert: pem('RPC_TLS_CERT', cert), key: pem('RPC_TLS_KEY', key), ca: pem('RPC_TLS_CA', ca) };
}

function corsOrigins(value: string | undefined): string[] {
  const origins = (value ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  return origins.map((origin) => {
    // An origin is scheme://host[:port]: no path, no wildcard, never "null"; stored as browsers send it.
    if (!/^https?:\/\/[^/\s*]+$/.test(origin))
      throw new ConfigError(`CORS_ORIGINS has "${origin}", which is not an origin like https://app.example.com`);
    return new URL(origin).origin;
  });
}

function bootstrapAdmin(vars: EnvironmentVariables): AppConfig['bootstrapAdmin'] {
  const { BOOTSTRAP_ADMIN_EMAIL: email, BOOTSTRAP_ADMIN_PASSWORD: password } = vars;
  if (!email && !password) return undefined;
  if (!email || !password) throw new ConfigError('BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD go together: set both or neither');
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new ConfigError('BOOTSTRAP_ADMIN_EMAIL must be an email address');
  const problem =
    passwordProblems(password)[0] ?? (isSimilarToIdentity(password, { email }) ? 'is too similar to the email address' : undefined);
  if (problem) throw new ConfigError(`BOOTSTRAP_ADMIN_PASSWORD: ${problem}`);
  return { email: normalizeEmail(email), password };
}

/** The ioredis connection options of REDIS_URL (used by the transport, the limiter and the publisher). */
export function redisClientOptions(r: RedisConnection): {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: object;
} {
  return { host: r.host, port: r.port, db: r.db, username: r.username, password: r.password, ...(r.tls ? { tls: {} } : {}) };
}

export function parseRedisUrl(url: string): RedisConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('REDIS_URL is not a valid URL');
  }
  const dbPart = parsed.pathname.replace(/^\//, '');
  const db = dbPart === '' ? 0 : Number(dbPart);
  if (!Number.isInteger(db) || db < 0) throw new ConfigError('REDIS_URL database index must be a whole number');
  return {
    url,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    tls: parsed.protocol === 'rediss:',
  };
}
