import { HttpException, Logger } from '@nestjs/common';

import { AppError, ErrorCode, unsupportedMediaType, validationFailed } from './app-error.js';

const logger = new Logger('Errors');

// Driver and socket failures that mean "the database cannot be reached right now".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Connection is not established',
  'connect ECONNREFUSED',
  'Cannot use a pool after calling end',
  // TypeORM, when a transaction's connection broke under it (seen during PostgreSQL restarts): the
  // driver's error handler releases the query runner, and its next query or commit fails thus.
  'query runner was already released',
  'Query runner already released',
  // pg, for a query on a client whose connection has ended.
  'Client was closed and is not queryable',
];

interface ErrorLike {
  message: string;
  code?: unknown;
  driverError?: unknown;
  cause?: unknown;
  errors?: unknown;
}

// Duck-typed on purpose: driver errors may come from another realm, where instanceof Error fails.
function asErrorLike(value: unknown): ErrorLike | undefined {
  return value && typeof value === 'object' && typeof (value as ErrorLike).message === 'string' ? (value as ErrorLike) : undefined;
}

/** Whether the error means the database cannot be reached right now (as opposed to a refusal or a bug). */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  const e = asErrorLike(error);
  if (!e || depth > 3) return false;
  if (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true;
  if (UNAVAILABLE_MESSAGES.some((m) => e.message.includes(m))) return true;
  const nested = [e.driverError, e.cause, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : [])];
  return nested.some((n) => isDatabaseUnavailable(n, depth + 1));
}

// During an outage every request fails the same way: one line per interval says so, with a count.
const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;
let unavailableLoggedAt = 0;
let unavailableSuppressed = 0;

function logUnavailable(message: string): void {
  const now = Date.now();
  if (now - unavailableLoggedAt < UNAVAILABLE_LOG_INTERVAL_MS) {
    unavailableSuppressed += 1;
    return;
  }
  const more = unavailableSuppressed > 0 ? ` (and ${unavailableSuppressed} more requests since the last report)` : '';
  logger.warn(`database unavailable: ${message}${more}`);
  unavailableLoggedAt = now;
  unavailableSuppressed = 0;
}

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION_FAILED,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
  429: ErrorCode.TOO_MANY_REQUESTS,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

/**
 * Turns anything thrown into an AppError. Only AppErrors carry their own message to the caller;
 * everything else gets a fixed message, so no driver text, SQL or class name ever leaves. While the
 * database is not ready (`databaseReady: false`), an unexpected error is a 503, not a 500.
 */
export function toAppError(error: unknown, context: { databaseReady?: boolean; requestId?: string } = {}): AppError {
  if (error instanceof AppError) return error;
  // Before the database check: a client that leaves mid-body fails the body read with ECONNRESET
  // (and status 400), which is the request's doing, not a database outage.
  const status = httpStatusOf(error);
  if (status !== undefined) {
    if (status === 400) return validationFailed('malformed request body', []);
    if (status === 404) return new AppError(ErrorCode.NOT_FOUND, 'not found');
    if (status === 413) return new AppError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body too large');
    if (status === 415) return unsupportedMediaType();
    const code = HTTP_STATUS_CODES[status];
    if (code) return new AppError(code, code.toLowerCase().replace(/_/g, ' '));
  }
  if (isDatabaseUnavailable(error)) {
    logUnavailable(asErrorLike(error)?.message ?? 'unknown error');
    return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
  }
  if (context.databaseReady === false) {
    // Before the database is connected and migrated, what fails is whatever needed it.
    return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
  }
  const unexpected = asErrorLike(error);
  // With the id of the request it broke, so its request line and this stack can be put together.
  logger.error({
    msg: unexpected ? ((error as { stack?: string }).stack ?? unexpected.message) : String(error),
    ...(context.requestId ? { reqId: context.requestId } : {}),
  });
  return new AppError(ErrorCode.INTERNAL_ERROR, 'internal error');
}

/** Status of errors raised by Nest itself (unknown route) or by Fastify (body parsing, size). */
function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof HttpException) return error.getStatus();
  if (asErrorLike(error)) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return status;
  }
  return undefined;
}
