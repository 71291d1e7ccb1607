import { getSchemaPath, type OperationObject, type ResponseObject, type SchemaObject } from '@nestjs/swagger';

import type { AppConfig } from '../platform/config/app-config.js';
import { BEARER_SCHEME, type DocumentedError } from '../platform/openapi/api-errors.js';
import { addError, schemaName, type Method, type OpenApiContribution } from '../platform/openapi/openapi.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { ACCESS_COOKIE, CSRF_COOKIE, CSRF_HEADER, FOREIGN_ORIGIN_MESSAGE, REFRESH_COOKIE } from './auth-cookies.js';
import { RestRefreshDto } from './dto/auth.dto.js';
import { CookieLoginResult, LoginResultResponse, MfaRequiredResponse } from './dto/auth.responses.js';

const ACCESS_COOKIE_SCHEME = 'accessCookie';
const REFRESH_COOKIE_SCHEME = 'refreshCookie';
const CSRF_SCHEME = 'csrfHeader';

const isWrite = (method: Method): boolean => !['get', 'head', 'options'].includes(method);

/** A login's 200: the session's tokens, or the step to the second factor. */
export const LOGIN_OUTCOMES: SchemaObject = {
  oneOf: [{ $ref: getSchemaPath(LoginResultResponse) }, { $ref: getSchemaPath(MfaRequiredResponse) }],
};

/** What auth adds to the OpenAPI document: the login results, and cookie mode when it is on. */
export function authOpenApi(config: AppConfig): OpenApiContribution {
  return {
    extraModels: [LoginResultResponse, CookieLoginResult, MfaRequiredResponse],
    configure: (builder) => {
      if (!config.authCookies) return;
      builder
        .addCookieAuth(
          ACCESS_COOKIE,
          { type: 'apiKey', in: 'cookie', name: ACCESS_COOKIE, description: 'Cookie mode: the access token, HttpOnly, Path=/.' },
          ACCESS_COOKIE_SCHEME,
        )
        .addCookieAuth(
          REFRESH_COOKIE,
          { type: 'apiKey', in: 'cookie', name: REFRESH_COOKIE, description: 'Cookie mode: the refresh token, HttpOnly, Path=/auth.' },
          REFRESH_COOKIE_SCHEME,
        )
        .addApiKey(
          {
            type: 'apiKey',
            in: 'header',
            name: 'X-CSRF-Token',
            description: `Cookie mode: on writes authenticated by cookie, the value of the ${CSRF_COOKIE} cookie (also csrfToken in the login body); a sent Origin must be APP_URL's or in CORS_ORIGINS.`,
          },
          CSRF_SCHEME,
        );
    },
    operation: (path, method, operation) => {
      if (config.authCookies) applyCookieMode(path, method, operation);
    },
    finish: (document) => {
      // Only cookie mode may leave the body empty (the gh_refresh cookie carries the token instead).
      const refreshBody = document.components?.schemas?.[schemaName(RestRefreshDto)] as SchemaObject | undefined;
      if (refreshBody && !config.authCookies) refreshBody.required = ['refreshToken'];
    },
    authentication: config.authCookies
      ? ` Cookie mode is on: tokens are also set as HttpOnly cookies (\`${ACCESS_COOKIE}\`, \`${REFRESH_COOKIE}\`); writes authenticated by cookie must send the \`${CSRF_COOKIE}\` cookie value in \`${CSRF_HEADER}\`.`
      : '',
  };
}

const CSRF_FAILED: DocumentedError = {
  code: ErrorCode.FORBIDDEN,
  when: `cookie mode: a write authenticated by cookie without X-CSRF-Token equal to the ${CSRF_COOKIE} cookie, or from an Origin that is not allowed`,
  message: 'CSRF check failed: send the gh_csrf cookie value in X-CSRF-Token from an allowed origin',
};

const FOREIGN_ORIGIN: DocumentedError = {
  code: ErrorCode.FORBIDDEN,
  when: "cookie mode: sent with an `Origin` that is neither APP_URL's nor one of CORS_ORIGINS",
  message: FOREIGN_ORIGIN_MESSAGE,
};

/**
 * AUTH_COOKIES on: authenticated routes also take the gh_access cookie (writes with the CSRF header),
 * refresh may take the gh_refresh cookie, and login and refresh answer without the refresh token.
 */
function applyCookieMode(path: string, method: Method, operation: OperationObject): void {
  const bearer = operation.security?.some((s: Record<string, string[]>) => BEARER_SCHEME in s);
  if (bearer) {
    operation.security = [
      { [BEARER_SCHEME]: [] },
      isWrite(method) ? { [ACCESS_COOKIE_SCHEME]: [], [CSRF_SCHEME]: [] } : { [ACCESS_COOKIE_SCHEME]: [] },
    ];
    if (isWrite(method)) addError(operation, CSRF_FAILED);
  }
  if (path === '/auth/refresh') {
    // The body's refreshToken needs no credential; the cookie does, with the CSRF header.
    operation.security = [{}, { [REFRESH_COOKIE_SCHEME]: [], [CSRF_SCHEME]: [] }];
    addError(operation, CSRF_FAILED);
  }
  if (path === '/auth/login' || path === '/auth/refresh' || path === '/auth/mfa/verify' || path === '/auth/reauthenticate') {
    const ok = operation.responses['200'] as ResponseObject | undefined;
    const json = ok?.content?.['application/json'];
    const cookieResult = { $ref: getSchemaPath(CookieLoginResult) };
    // A login may answer the step to a second factor instead, which sets no cookie.
    if (json) json.schema = path === '/auth/login' ? { oneOf: [cookieResult, { $ref: getSchemaPath(MfaRequiredResponse) }] } : cookieResult;
    addError(operation, FOREIGN_ORIGIN);
  }
}
