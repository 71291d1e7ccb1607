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
const emptyToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

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
  @IntRange(0, 65535)
  PORT = 3000;

  @IsString() @MinLength(1)
  HOST = '0.0.0.0';

  @IsString() @MinLength(1)
  RPC_HOST = '127.0.0.1';

  @IntRange(0, 65535)
  RPC_PORT = 4000;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  RPC_TLS_CERT?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  RPC_TLS_KEY?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  RPC_TLS_CA?: string;

  @Transform(emptyToUndefined) @IsOptional()
  @Matches(/^rediss?:\/\/[^\s]+$/, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @Matches(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'must be 1-64 characters of letters, digits, _ . : -' })
  REDIS_PREFIX = 'gatehouse';

  @Transform(emptyToUndefined) @IsOptional()
  @Matches(/^postgres(ql)?:\/\/[^\s]+$/, { message: 'must be a postgres:// URL' })
  DATABASE_URL?: string;

  @IsString() @MinLength(1)
  DATA_DIR = './.data';

  @Matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { message: 'must be an http(s):// URL' })
  APP_URL = 'http://localhost:3000';

  @Transform(emptyToUndefined) @IsOptional()
  @Matches(/^smtps?:\/\/[^\s]+$/, { message: 'must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  // An address, optionally with a display name; never CR or LF (header injection).
  @Matches(/^(?:[^\r\n<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, { message: 'must be an email address, optionally as "Name <address>"' })
  MAIL_FROM = 'no-reply@localhost';

  @IntRange(60, 86400, ' of seconds')
  PASSWORD_RESET_TTL = 1800;

  @IntRange(60, 30 * 86400, ' of seconds')
  EMAIL_VERIFICATION_TTL = 86400;

  /** How often the outbox worker looks for due mail, besides being woken by new mail. */
  @IntRange(50, 60000, ' of milliseconds')
  OUTBOX_POLL_MS = 1000;

  /** First retry delay after a failed send; doubles per attempt up to an hour. */
  @IntRange(10, 3600000, ' of milliseconds')
  OUTBOX_RETRY_BASE_MS = 2000;

  @IntRange(1, 100)
  OUTBOX_MAX_ATTEMPTS = 20;

  /** Each check of GET /health/ready (database, Redis, outbox) gives up after this long. */
  @IntRange(50, 30000, ' of milliseconds')
  HEALTH_TIMEOUT_MS = 1000;

  /**
   * Readiness fails when due mail has waited this long for a worker; 0 (the default): never, the
   * backlog is only reported (it is shared by every instance and says nothing about this one).
   */
  @IntRange(0, 30 * 86400, ' of seconds')
  HEALTH_OUTBOX_MAX_DUE_AGE = 0;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  BOOTSTRAP_ADMIN_EMAIL?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  BOOTSTRAP_ADMIN_PASSWORD?: string;

  @IntRange(1, 1_000_000)
  LOCKOUT_THRESHOLD = 10;

  @IntRange(1, 86400, ' of seconds')
  LOCKOUT_DURATION = 900;

  @IntRange(1, 10_000_000)
  RATE_LIMIT_PER_MINUTE = 60;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  CORS_ORIGINS?: string;

  @Transform(toBool) @IsBoolean({ message: 'must be true or false' })
  AUTH_COOKIES = false;

  @IsIn(JWT_ALGORITHMS, { message: `must be one of ${JWT_ALGORITHMS.join(', ')}` })
  JWT_ALGORITHM: JwtAlgorithm = 'ES256';

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  JWT_PRIVATE_KEY?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString()
  @MinLength(32, { message: 'must be at least 32 characters' })
  JWT_SECRET?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @MaxLength(512)
  JWT_ISSUER?: string;

  @Transform(emptyToUndefined) @IsOptional() @IsString() @MaxLength(512)
  JWT_AUDIENCE?: string;

  @IntRange(1, 86400, ' of seconds')
  ACCESS_TOKEN_TTL = 900;

  @IntRange(60, 10 * 365 * 86400, ' of seconds')
  SESSION_TTL = 1209600;

  @IntRange(60, 10 * 365 * 86400, ' of seconds')
  MAX_SESSION_TTL = 7776000;

  @IntRange(0, 3600, ' of seconds')
  REFRESH_REUSE_INTERVAL = 10;

  @Transform(toBool) @IsBoolean({ message: 'must be true or false' })
  REQUIRE_EMAIL_VERIFICATION = true;

  /** false, true (one proxy hop), a number of hops, or a comma-separated list of proxy addresses/CIDRs. */
  @Matches(/^(true|false|\d{1,2}|[0-9a-fA-F:./]+(\s*,\s*[0-9a-fA-F:./]+)*)$/, { message: 'must be false, true, a number of proxy hops, or proxy addresses' })
  TRUST_PROXY = 'false';

  @Transform(toBool) @IsBoolean({ message: 'must be true or false' })
  MIGRATIONS_RUN = true;

  @IntRange(1, 200)
  DATABASE_POOL_SIZE = 10;

  /** Seconds a SIGTERM/SIGINT shutdown may take before the process exits with what is left pending. */
  @IntRange(1, 600, ' of seconds')
  SHUTDOWN_TIMEOUT = 9;

  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  @IsIn(['development', 'production', 'test'], { message: 'must be development, production or test' })
  NODE_ENV = 'development';
}
