/** Stable, machine-readable error codes of the contract; the only errors services throw. */
export enum ErrorCode {
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  INVALID_CREDENTIALS = 'INVALID_CREDENTIALS',
  UNAUTHORIZED = 'UNAUTHORIZED',
  INVALID_REFRESH_TOKEN = 'INVALID_REFRESH_TOKEN',
  REFRESH_TOKEN_REUSED = 'REFRESH_TOKEN_REUSED',
  EMAIL_NOT_VERIFIED = 'EMAIL_NOT_VERIFIED',
  USER_DEACTIVATED = 'USER_DEACTIVATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  EMAIL_TAKEN = 'EMAIL_TAKEN',
  USERNAME_TAKEN = 'USERNAME_TAKEN',
  INVALID_TOKEN = 'INVALID_TOKEN',
  PASSWORD_REQUIRED = 'PASSWORD_REQUIRED',
  /** The route needs a session whose second factor was proven (aal 2). */
  MFA_REQUIRED = 'MFA_REQUIRED',
  INVALID_MFA_CODE = 'INVALID_MFA_CODE',
  /** The route needs a factor proven within REAUTH_MAX_AGE (or the route's own age): re-authenticate. */
  REAUTH_REQUIRED = 'REAUTH_REQUIRED',
  LAST_ADMIN = 'LAST_ADMIN',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  TOO_MANY_REQUESTS = 'TOO_MANY_REQUESTS',
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  INTERNAL_ERROR = 'INTERNAL_ERROR',
}

const STATUS: Record<ErrorCode, number> = {
  [ErrorCode.VALIDATION_FAILED]: 400,
  [ErrorCode.INVALID_CREDENTIALS]: 401,
  [ErrorCode.UNAUTHORIZED]: 401,
  [ErrorCode.INVALID_REFRESH_TOKEN]: 401,
  [ErrorCode.REFRESH_TOKEN_REUSED]: 401,
  [ErrorCode.EMAIL_NOT_VERIFIED]: 403,
  [ErrorCode.USER_DEACTIVATED]: 403,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.EMAIL_TAKEN]: 409,
  [ErrorCode.USERNAME_TAKEN]: 409,
  [ErrorCode.INVALID_TOKEN]: 400,
  [ErrorCode.PASSWORD_REQUIRED]: 400,
  [ErrorCode.MFA_REQUIRED]: 403,
  [ErrorCode.INVALID_MFA_CODE]: 401,
  [ErrorCode.REAUTH_REQUIRED]: 401,
  [ErrorCode.LAST_ADMIN]: 409,
  // The contract answers an oversized body with 413 and the VALIDATION_FAILED code.
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  // A body that is not JSON: 415, with the VALIDATION_FAILED code like the oversized one.
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: 415,
  [ErrorCode.TOO_MANY_REQUESTS]: 429,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
  [ErrorCode.INTERNAL_ERROR]: 500,
};

/** Codes that exist only to pick a status: on the wire they are VALIDATION_FAILED. */
const WIRE_CODE: Partial<Record<ErrorCode, ErrorCode>> = {
  [ErrorCode.PAYLOAD_TOO_LARGE]: ErrorCode.VALIDATION_FAILED,
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: ErrorCode.VALIDATION_FAILED,
};

/** The codes a caller can receive (the contract's table). */
export const CONTRACT_ERROR_CODES: ErrorCode[] = Object.values(ErrorCode).filter((c) => WIRE_CODE[c] === undefined);

export interface FieldError {
  field: string;
  messages: string[];
}

/** The error body of the contract, identical over REST and every RPC transport. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  errors?: FieldError[];
  retryAfter?: number;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { errors?: FieldError[]; retryAfter?: number } = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  get statusCode(): number {
    return STATUS[this.code];
  }

  toBody(): ErrorBody {
    const code = WIRE_CODE[this.code] ?? this.code;
    const body: ErrorBody = { statusCode: this.statusCode, code, message: this.message };
    if (this.details.errors) body.errors = this.details.errors;
    if (this.details.retryAfter !== undefined) body.retryAfter = this.details.retryAfter;
    return body;
  }
}

export const invalidCredentials = (): AppError => new AppError(ErrorCode.INVALID_CREDENTIALS, 'login failed');
export const unauthorized = (message = 'authentication required'): AppError => new AppError(ErrorCode.UNAUTHORIZED, message);
export const notFound = (message = 'not found'): AppError => new AppError(ErrorCode.NOT_FOUND, message);
export const validationFailed = (message: string, errors: FieldError[]): AppError =>
  new AppError(ErrorCode.VALIDATION_FAILED, message, { errors });
export const unsupportedMediaType = (): AppError =>
  new AppError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'request bodies must be JSON in UTF-8 (Content-Type: application/json)');

const ERROR_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The contract's error code of what a failed message-pattern call rejected with (an AppError or the
 * error body the RPC filter made of one); anything else is `INTERNAL_ERROR`, so the set stays closed.
 */
export function rpcErrorCode(error: unknown): string {
  const code = error && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && ERROR_CODES.has(code) ? code : ErrorCode.INTERNAL_ERROR;
}
