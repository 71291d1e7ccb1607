import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiResponse, ApiSchema } from '@nestjs/swagger';

import { AppError, CONTRACT_ERROR_CODES, ErrorCode, type FieldError } from '../../shared/errors/app-error.js';

export const BEARER_SCHEME = 'bearer';

@ApiSchema({ name: 'FieldError' })
export class FieldErrorBody {
  @ApiProperty({ example: 'email', description: 'The field, dotted for nested ones (`connection.ip`).' })
  field: string;

  @ApiProperty({ type: [String], example: ['email must be a valid email address'] })
  messages: string[];
}

@ApiSchema({ name: 'ErrorBody', description: 'The error body of every route and message pattern.' })
export class ErrorBodyResponse {
  @ApiProperty({ example: 401, description: 'The HTTP status, repeated in the body (also over RPC).' })
  statusCode: number;

  @ApiProperty({ enum: CONTRACT_ERROR_CODES, example: ErrorCode.INVALID_CREDENTIALS, description: 'Stable and machine-readable.' })
  code: string;

  @ApiProperty({ example: 'login failed', description: 'For people; may change between versions.' })
  message: string;

  @ApiPropertyOptional({ type: [FieldErrorBody], description: 'Only with VALIDATION_FAILED: what is wrong, per field.' })
  errors?: FieldErrorBody[];

  @ApiPropertyOptional({
    example: 42,
    description: 'Only over RPC with TOO_MANY_REQUESTS: seconds to wait (REST sends the Retry-After header instead).',
  })
  retryAfter?: number;
}

/** When each code is answered, and a message it is answered with, for the document. */
const DEFAULTS: Record<ErrorCode, { when: string; message: string }> = {
  [ErrorCode.VALIDATION_FAILED]: {
    when: 'the body, query or payload fails validation; `errors` lists the fields',
    message: 'validation failed',
  },
  [ErrorCode.INVALID_CREDENTIALS]: { when: 'unknown user or wrong password, indistinguishable', message: 'login failed' },
  [ErrorCode.UNAUTHORIZED]: {
    when: 'missing, malformed, expired or revoked access token, or its session ended',
    message: 'authentication required',
  },
  [ErrorCode.INVALID_REFRESH_TOKEN]: {
    when: 'unknown, expired or revoked refresh token, or one rotated out less than REFRESH_REUSE_INTERVAL ago (the session lives on)',
    message: 'invalid refresh token',
  },
  [ErrorCode.REFRESH_TOKEN_REUSED]: {
    when: 'a refresh token rotated out longer than REFRESH_REUSE_INTERVAL ago: the whole session is revoked',
    message: 'refresh token reuse detected; the session is revoked',
  },
  [ErrorCode.EMAIL_NOT_VERIFIED]: {
    when: 'correct password, but the address is not verified and REQUIRE_EMAIL_VERIFICATION is on',
    message: 'the email address is not verified',
  },
  [ErrorCode.USER_DEACTIVATED]: {
    when: 'the account is deactivated (told only after a correct password)',
    message: 'this account is deactivated',
  },
  [ErrorCode.FORBIDDEN]: {
    when: 'authenticated, but not allowed: lacking the admin role, or as the route says',
    message: 'insufficient role',
  },
  [ErrorCode.NOT_FOUND]: { when: 'unknown id, or a resource of another user', message: 'not found' },
  [ErrorCode.EMAIL_TAKEN]: { when: 'the address is registered already', message: 'email is already registered' },
  [ErrorCode.USERNAME_TAKEN]: { when: 'the username is taken', message: 'username is taken' },
  [ErrorCode.INVALID_TOKEN]: { when: 'unknown, expired or used verification or reset token', message: 'invalid or expired token' },
  [ErrorCode.PASSWORD_REQUIRED]: {
    when: 'the verification link is of a contested sign-up: the clicker must choose the password (`password`)',
    message: 'choose a password to verify this address',
  },
  [ErrorCode.MFA_REQUIRED]: {
    when: 'the route needs a session whose second factor was proven (`aal` 2): sign in with the second factor',
    message: 'a second factor is required',
  },
  [ErrorCode.INVALID_MFA_CODE]: {
    when: 'wrong, expired or already used second-factor code, or an unknown, used or expired `mfaToken`',
    message: 'invalid code',
  },
  [ErrorCode.REAUTH_REQUIRED]: {
    when: 'the route needs a factor proven within REAUTH_MAX_AGE: call POST /auth/reauthenticate, then retry with its tokens',
    message: 'please re-authenticate',
  },
  [ErrorCode.LAST_ADMIN]: {
    when: 'the caller is the last active admin: another admin must exist before this account can be deleted',
    message: 'the last active admin cannot delete the account',
  },
  [ErrorCode.PAYLOAD_TOO_LARGE]: { when: 'the request body is over 64 KB', message: 'request body too large' },
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: {
    when: 'the request has a body that is not declared `application/json` (UTF-8): forms, multipart, text, none at all',
    message: 'request bodies must be JSON in UTF-8 (Content-Type: application/json)',
  },
  [ErrorCode.TOO_MANY_REQUESTS]: {
    when: 'rate limit per client address, or account lockout; `Retry-After` header in seconds (REST), `retryAfter` in the body (RPC)',
    message: 'too many requests; try again later',
  },
  [ErrorCode.SERVICE_UNAVAILABLE]: {
    when: 'the database cannot be reached right now; retry later',
    message: 'service temporarily unavailable',
  },
  [ErrorCode.INTERNAL_ERROR]: { when: 'an unexpected failure; the body never carries details', message: 'internal error' },
};

/** A documented error: a code, optionally with what it means on this route (and its example message and field errors). */
export type DocumentedError = ErrorCode | { code: ErrorCode; when: string; message?: string; errors?: FieldError[] };

export interface ErrorDoc {
  status: number;
  code: string;
  when: string;
  body: { statusCode: number; code: string; message: string; errors?: FieldError[] };
}

/** The status, body code and example body of a documented error, as the HTTP filter would answer it. */
export function describeError(error: DocumentedError): ErrorDoc {
  const spec: { code: ErrorCode; when?: string; message?: string; errors?: FieldError[] } =
    typeof error === 'string' ? { code: error } : error;
  const defaults = DEFAULTS[spec.code];
  const body = new AppError(spec.code, spec.message ?? defaults.message).toBody();
  const example: ErrorDoc['body'] = { statusCode: body.statusCode, code: body.code, message: body.message };
  if (spec.code === ErrorCode.VALIDATION_FAILED) {
    example.errors = spec.errors ?? [{ field: 'email', messages: ['email must be a valid email address'] }];
  }
  return { status: body.statusCode, code: body.code, when: spec.when ?? defaults.when, body: example };
}

/**
 * Documents the error answers of a route, grouped by status: each status lists its codes and when
 * they happen, with one example body per code, all in the ErrorBody schema.
 */
export function ApiErrors(...errors: DocumentedError[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, ErrorDoc[]>();
  for (const doc of errors.map(describeError)) byStatus.set(doc.status, [...(byStatus.get(doc.status) ?? []), doc]);
  return applyDecorators(
    ...[...byStatus].map(([status, docs]) =>
      ApiResponse({
        status,
        type: ErrorBodyResponse,
        description: docs.map((d) => `\`${d.code}\`: ${d.when}`).join('\n\n'),
        ...(status === 429
          ? { headers: { 'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer' } } } }
          : {}),
        examples: Object.fromEntries(
          docs.map((d, i) => [
            docs.filter((o) => o.code === d.code).length > 1 ? `${d.code}_${i + 1}` : d.code,
            { summary: `${d.code}: ${d.when}`, value: d.body },
          ]),
        ),
      }),
    ),
  );
}

/** A route for callers with an access token: bearer header (or the gh_access cookie in cookie mode). */
export const ApiAuthenticated = (): MethodDecorator & ClassDecorator =>
  applyDecorators(ApiBearerAuth(BEARER_SCHEME), ApiErrors(ErrorCode.UNAUTHORIZED));

/** A route for admins: authenticated, and refused with FORBIDDEN to other callers. */
export const ApiAdmin = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiAuthenticated(),
    ApiErrors({
      code: ErrorCode.FORBIDDEN,
      when: 'authenticated, but the caller does not have the `admin` role (now: a demoted admin is refused at once)',
    }),
  );

/** The errors any route taking a JSON body can answer before its handler runs. */
export const BODY_ERRORS: DocumentedError[] = [
  {
    code: ErrorCode.VALIDATION_FAILED,
    when: 'the body fails validation (`errors` lists the fields), is malformed JSON, or nests deeper than 32 levels',
  },
  ErrorCode.PAYLOAD_TOO_LARGE,
  ErrorCode.UNSUPPORTED_MEDIA_TYPE,
];

/** The per-address limit of the unauthenticated auth routes. */
export const RATE_LIMITED: DocumentedError = {
  code: ErrorCode.TOO_MANY_REQUESTS,
  when: 'over RATE_LIMIT_PER_MINUTE requests from this client address in the current minute (shared by the unauthenticated auth routes); `Retry-After` header in seconds',
};

/** The refusals of a route marked @RequireRecentAuth() (REST: `POST /auth/reauthenticate`, then retry). */
export const RECENT_AUTH_ERRORS: DocumentedError[] = [
  ErrorCode.REAUTH_REQUIRED,
  {
    code: ErrorCode.FORBIDDEN,
    when: "the session is an impersonation: the admin proved none of the user's factors",
    message: 'an impersonated session cannot do this',
  },
];

/** The refusal of a route marked @RequireAal(2). */
export const SECOND_FACTOR_REQUIRED: DocumentedError = ErrorCode.MFA_REQUIRED;

const SIMILAR_OR_COMMON = (field: string): DocumentedError => ({
  code: ErrorCode.VALIDATION_FAILED,
  when: `the ${field === 'password' ? 'password' : 'new password'} is too common, or built on the email or username`,
  message: 'validation failed',
  errors: [{ field, messages: ['password is too common; choose a less guessable one'] }],
});

/** A new password refused by the policy (beyond its length). */
export const WEAK_PASSWORD = SIMILAR_OR_COMMON('password');
export const WEAK_NEW_PASSWORD = SIMILAR_OR_COMMON('newPassword');
