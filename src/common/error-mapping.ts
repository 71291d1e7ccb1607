import { HttpException, Logger } from '@nestjs/common';
import { AppError, ErrorCode, validationFailed } from './app-error.js';

const logger = new Logger('Errors');

// Driver and socket failures that mean "the database cannot be reached right now".
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006',
]);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated', 'timeout exceeded when trying to connect', 'Client has encountered a connection error',
  'Connection is not established', 'connect ECONNREFUSED', 'Cannot use a pool after calling end',
];

function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const candidates: unknown[] = [error, (error as { driverError?: unknown }).driverError, error.cause];
  return candidates.some((e) => {
    if (!(e instanceof Error)) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    return UNAVAILABLE_MESSAGES.some((m) => e.message.includes(m));
  });
}

const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION_FAILED,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  415: ErrorCode.VALIDATION_FAILED,
  429: ErrorCode.TOO_MANY_REQUESTS,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

/**
 * Turns anything thrown into an AppError. Only AppErrors carry their own message to the caller;
 * everything else gets a fixed message, so no driver text, SQL or class name ever leaves.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) {
    logger.warn(`database unavailable: ${(error as Error).message}`);
    return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
  }
  const status = httpStatusOf(error);
  if (status !== undefined) {
    if (status === 400) return validationFailed('malformed request body', []);
    if (status === 404) return new AppError(ErrorCode.NOT_FOUND, 'not found');
    if (status === 413) return new AppError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body too large');
    if (status === 415) return validationFailed('unsupported content type', []);
    const code = HTTP_STATUS_CODES[status];
    if (code) return new AppError(code, code.toLowerCase().replace(/_/g, ' '));
  }
  logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return new AppError(ErrorCode.INTERNAL_ERROR, 'internal error');
}

/** Status of errors raised by Nest itself (unknown route) or by Fastify (body parsing, size). */
function httpStatusOf(error: unknown): number | undefined {
  if (error instanceof HttpException) return error.getStatus();
  if (error instanceof Error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return status;
  }
  return undefined;
}
