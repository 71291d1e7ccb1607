import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const toBool = ({ value }: { value: unknown }): unknown => {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return value;
};
const emptyToUndefined = ({ value }: { value: unknown }): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);

export const JWT_ALGORITHMS = ['ES256', 'RS256', 'HS256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A whole number in a range, with one message for every way of missing it. */
function IntRange(min: number, max: number, unit = ''): PropertyDecorator {
  const message = `must be a whole number${unit} from ${min} to ${max}`;
  return (target, key) => {
    Transform(toInt)(target, key);
    IsInt({ message })(target, key);
    Min(min, { message })(target, key);
    Max(max, { message })(target, key);
  };
}

/**
 * Every environment variable the service reads, with its default. Values arrive as strings and are
 * converted here; anything invalid stops the process at boot (see loadConfig).
 */
export class EnvironmentVariables {
  /** HTTP listener port. */
  @IntRange(0, 65535)
  PORT = 3000;

  /** Address the HTTP listener binds to. */
  @IsString()
  @MinLength(1)
  HOST = '0.0.0.0';

  /** Address of the TCP message-pattern listener (always on; keep it on a private network). */
  @IsString()
  @MinLength(1)
  RPC_HOST = '127.0.0.1';

  /** Port of the TCP message-pattern listener. */
  @IntRange(0, 65535)
  RPC_PORT = 4000;

  /**
   * With `RPC_TLS_KEY` and `RPC_TLS_CA`, all three together: TLS on the TCP listener (PEM text or a
   * file path), serving only clients that present a certificate signed by `RPC_TLS_CA`.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  RPC_TLS_CERT?: string;

  /**
   * Private key of the TCP listener's TLS certificate (PEM text or a file path); see
   * `RPC_TLS_CERT`.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  RPC_TLS_KEY?: string;

  /**
   * CA that must have signed the certificate a TCP client presents (PEM text or a file path); see
   * `RPC_TLS_CERT`.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  RPC_TLS_CA?: string;

  /**
   * `redis://[user:pass@]host:port[/db]` (or `rediss://`); when set, the message patterns are also
   * served over Redis. The database index is honoured.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\/[^\s]+$/, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  /** Namespace for what gatehouse publishes on a shared Redis. */
  @Matches(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'must be 1-64 characters of letters, digits, _ . : -' })
  REDIS_PREFIX = 'gatehouse';

  /**
   * `postgres://…`; when unset, the embedded PostgreSQL under `DATA_DIR` is used (development only:
   * one process).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, { message: 'must be a postgres:// URL' })
  DATABASE_URL?: string;

  /** Embedded database files; the development mail outbox (`DATA_DIR/mail`). */
  @IsString()
  @MinLength(1)
  DATA_DIR = './.data';

  /**
   * Public base URL; default issuer; the base of links in mail (`APP_URL/verify-email?token=…`,
   * `APP_URL/reset-password?token=…`).
   */
  @Matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { message: 'must be an http(s):// URL' })
  APP_URL = 'http://localhost:3000';

  /**
   * `smtp://user:pass@host:port` or `smtps://…`; when unset, mail is written as `.eml` files under
   * `DATA_DIR/mail` and each link is logged (development only).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^smtps?:\/\/[^\s]+$/, { message: 'must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  /** Sender, `address` or `Name <address>`; never CR or LF (header injection). */
  @Matches(/^(?:[^\r\n<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, {
    message: 'must be an email address, optionally as "Name <address>"',
  })
  MAIL_FROM = 'no-reply@localhost';

  /** Password-reset token lifetime, seconds. */
  @IntRange(60, 86400, ' of seconds')
  PASSWORD_RESET_TTL = 1800;

  /** Email-verification token lifetime, seconds. */
  @IntRange(60, 30 * 86400, ' of seconds')
  EMAIL_VERIFICATION_TTL = 86400;

  /**
   * How often each instance's mail worker looks for due mail (it is also woken at once by new
   * mail).
   */
  @IntRange(50, 60000, ' of milliseconds')
  OUTBOX_POLL_MS = 1000;

  /** First retry delay after a failed send; doubles per attempt, at most an hour apart. */
  @IntRange(10, 3600000, ' of milliseconds')
  OUTBOX_RETRY_BASE_MS = 2000;

  /** Attempts before a mail is marked failed (with the defaults, about ten hours of outage). */
  @IntRange(1, 100)
  OUTBOX_MAX_ATTEMPTS = 20;

  /**
   * Each check of `GET /health/ready` (database, Redis, outbox) gives up after this long (see
   * docs/operations.md#health-checks).
   */
  @IntRange(50, 30000, ' of milliseconds')
  HEALTH_TIMEOUT_MS = 1000;

  /**
   * Seconds due mail may wait for a worker before `/health/ready` fails; `0` (the default): never,
   * the backlog is only reported (it is shared by every instance and says nothing about this one;
   * see docs/operations.md#health-checks).
   */
  @IntRange(0, 30 * 86400, ' of seconds')
  HEALTH_OUTBOX_MAX_DUE_AGE = 0;

  /**
   * With `BOOTSTRAP_ADMIN_PASSWORD`, both or neither: that user exists at every start with role
   * `admin` and a verified email (see docs/operations.md#bootstrap-admin).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  BOOTSTRAP_ADMIN_EMAIL?: string;

  /**
   * The bootstrap admin's password; it must meet the password rules. See `BOOTSTRAP_ADMIN_EMAIL`.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  BOOTSTRAP_ADMIN_PASSWORD?: string;

  /**
   * Consecutive failed password checks for one account (or one unknown email/username) before it is
   * refused for `LOCKOUT_DURATION` (see docs/security.md).
   */
  @IntRange(1, 1_000_000)
  LOCKOUT_THRESHOLD = 10;

  /** Seconds a locked account or identifier is refused. */
  @IntRange(1, 86400, ' of seconds')
  LOCKOUT_DURATION = 900;

  /**
   * Seconds after the last proof of a factor (a login or `POST /auth/reauthenticate`) during which a
   * route marked "recent" (turning a factor on or off, an email change, export, deletion) is allowed;
   * later it answers 401 `REAUTH_REQUIRED`.
   */
  @IntRange(10, 86400, ' of seconds')
  REAUTH_MAX_AGE = 300;

  /**
   * Requests per client address per minute on the unauthenticated auth routes; shared through Redis
   * when `REDIS_URL` is set.
   */
  @IntRange(1, 10_000_000)
  RATE_LIMIT_PER_MINUTE = 60;

  /**
   * Comma-separated exact origins (`https://app.example.com`); unset means no cross-origin access.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  CORS_ORIGINS?: string;

  /** Also deliver tokens as cookies and accept them, with CSRF defence (see docs/security.md). */
  @Transform(toBool)
  @IsBoolean({ message: 'must be true or false' })
  AUTH_COOKIES = false;

  /** Algorithm that signs access tokens. */
  @IsIn(JWT_ALGORITHMS, { message: `must be one of ${JWT_ALGORITHMS.join(', ')}` })
  JWT_ALGORITHM: JwtAlgorithm = 'ES256';

  /**
   * PEM private key (EC P-256 for ES256, RSA ≥ 2048 bits for RS256); `\n` escapes are accepted.
   * When unset (and not HS256), a key pair is generated once and stored in the database, so every
   * instance signs with the same key.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  JWT_PRIVATE_KEY?: string;

  /**
   * HS256 only, at least 32 bytes; a placeholder-looking secret is refused when
   * `NODE_ENV=production`.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32, { message: 'must be at least 32 characters' })
  JWT_SECRET?: string;

  /**
   * Key that encrypts TOTP secrets at rest (AES-256-GCM): 32 random bytes in base64, e.g. from
   * `openssl rand -base64 32`. When unset, a key is generated once and stored in the database, so
   * every instance uses the same one; a placeholder-looking key is refused when
   * `NODE_ENV=production` (see docs/decisions/0029-second-factor-secrets-are-encrypted-with-a-key-of-their-own.md).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  MFA_ENCRYPTION_KEY?: string;

  /** `iss` claim, checked on every verification; unset: `APP_URL`. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(512)
  JWT_ISSUER?: string;

  /** `aud` claim, checked on every verification; unset: no `aud`. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(512)
  JWT_AUDIENCE?: string;

  /** Access-token lifetime, seconds (never past its session's end). */
  @IntRange(1, 86400, ' of seconds')
  ACCESS_TOKEN_TTL = 900;

  /** Default session lifetime, seconds; absolute (refreshing never extends it). */
  @IntRange(60, 10 * 365 * 86400, ' of seconds')
  SESSION_TTL = 1209600;

  /** Largest session lifetime, seconds; absolute. A login's `ttl` is capped at it. */
  @IntRange(60, 10 * 365 * 86400, ' of seconds')
  MAX_SESSION_TTL = 7776000;

  /**
   * Seconds during which a just-rotated refresh token is refused *without* revoking the session
   * (two tabs racing); after that, reuse revokes the session.
   */
  @IntRange(0, 3600, ' of seconds')
  REFRESH_REUSE_INTERVAL = 10;

  /**
   * Seconds between a user's deletion request (`POST /auth/me/delete`) and the erasure of the
   * account's data; `0` erases as soon as the deletion notice is sent. The account is signed out and
   * answers like an unknown one from the request on (see docs/api.md#self-service-account).
   */
  @IntRange(0, 90 * 86400, ' of seconds')
  ACCOUNT_DELETION_GRACE = 604800;

  /** A user whose email is not verified cannot log in. */
  @Transform(toBool)
  @IsBoolean({ message: 'must be true or false' })
  REQUIRE_EMAIL_VERIFICATION = true;

  /**
   * Behind a reverse proxy: `true` (one proxy hop), a number of hops, or the proxies'
   * addresses/CIDRs (`10.0.0.0/8,127.0.0.1`); the client address is then the one the nearest
   * trusted proxy appended to `X-Forwarded-For`, never entries the client wrote itself.
   */
  @Matches(/^(true|false|\d{1,2}|[0-9a-fA-F:./]+(\s*,\s*[0-9a-fA-F:./]+)*)$/, {
    message: 'must be false, true, a number of proxy hops, or proxy addresses',
  })
  TRUST_PROXY = 'false';

  /** Run pending migrations at start; `false` for deployments that run `npm run migration:run`. */
  @Transform(toBool)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATIONS_RUN = true;

  /** PostgreSQL connections per instance. */
  @IntRange(1, 200)
  DATABASE_POOL_SIZE = 10;

  /**
   * Seconds a SIGTERM/SIGINT shutdown may take; past it the process logs what is still in flight
   * and exits 1.
   */
  @IntRange(1, 600, ' of seconds')
  SHUTDOWN_TIMEOUT = 9;

  /**
   * Threshold of the JSON log lines on stdout; `verbose` is pino's `trace` (see
   * docs/operations.md#logs).
   */
  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  /** `production` enables the production-only checks. */
  @IsIn(['development', 'production', 'test'], { message: 'must be development, production or test' })
  NODE_ENV = 'development';
}
