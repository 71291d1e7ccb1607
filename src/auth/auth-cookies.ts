// The type import brings @fastify/cookie's additions to FastifyReply (setCookie, clearCookie).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { CookieSerializeOptions } from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import type { AppConfig } from '../platform/config/app-config.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';

export const ACCESS_COOKIE = 'gh_access';
export const REFRESH_COOKIE = 'gh_refresh';
export const CSRF_COOKIE = 'gh_csrf';
export const CSRF_HEADER = 'x-csrf-token';

type CookieRequest = { headers: FastifyRequest['headers']; method?: string; cookies?: Record<string, string | undefined> };

/** The access token of a request in cookie mode: the gh_access cookie, when no bearer header is sent. */
export function accessTokenCookie(request: CookieRequest): string | undefined {
  if (request.headers.authorization) return undefined;
  return request.cookies?.[ACCESS_COOKIE] || undefined;
}

export function refreshTokenCookie(request: CookieRequest): string | undefined {
  return request.cookies?.[REFRESH_COOKIE] || undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Whether a browser Origin is this service's own (APP_URL's) or one of CORS_ORIGINS; `null` never is. */
export function isAllowedOrigin(origin: string, config: AppConfig): boolean {
  return origin === new URL(config.appUrl).origin || config.corsOrigins.includes(origin);
}

/** The routes that answer with token cookies, where another site must not be able to log a browser in. */
const COOKIE_ISSUING_ROUTES = new Set(['/auth/login', '/auth/refresh']);

export const FOREIGN_ORIGIN_MESSAGE = "this origin may not sign in: Origin must be APP_URL's or one of CORS_ORIGINS";

/**
 * Cookie mode: a login or refresh sent with an Origin that is not allowed is refused before its body
 * is read, so no other site can plant its own session in a browser (login CSRF) or spend the
 * browser's refresh cookie, and the attempt costs no rate limit or lockout count.
 */
export function refuseForeignOriginLogins(fastify: FastifyInstance, config: AppConfig): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const origin = request.headers.origin;
    if (
      origin !== undefined &&
      request.method === 'POST' &&
      COOKIE_ISSUING_ROUTES.has(request.routeOptions.url ?? '') &&
      !isAllowedOrigin(origin, config)
    ) {
      done(new AppError(ErrorCode.FORBIDDEN, FOREIGN_ORIGIN_MESSAGE));
      return;
    }
    done();
  });
}

/**
 * CSRF defence for requests authenticated by cookie: a write must carry X-CSRF-Token equal to the
 * gh_csrf cookie (double submit: another site can make the browser send the cookie, but can neither
 * read it nor set the header), and an Origin, when sent, must be this service's or an allowed one.
 */
export function assertCsrfSafe(request: CookieRequest, config: AppConfig): void {
  if (SAFE_METHODS.has((request.method ?? 'GET').toUpperCase())) return;
  const origin = request.headers.origin;
  const allowedOrigin = origin === undefined || isAllowedOrigin(origin, config);
  const header = request.headers[CSRF_HEADER];
  const cookie = request.cookies?.[CSRF_COOKIE];
  const matches =
    typeof header === 'string' &&
    typeof cookie === 'string' &&
    header.length === cookie.length &&
    header.length > 0 &&
    timingSafeEqual(Buffer.from(header), Buffer.from(cookie));
  if (!allowedOrigin || !matches)
    throw new AppError(ErrorCode.FORBIDDEN, 'CSRF check failed: send the gh_csrf cookie value in X-CSRF-Token from an allowed origin');
}

const base: CookieSerializeOptions = { httpOnly: true, secure: true, sameSite: 'lax' };

/**
 * Sets the token cookies after a login or refresh; the refresh cookie is only sent to /auth. Returns
 * the CSRF token, which also goes in the body: an allowed cross-origin app cannot read the cookie.
 */
export function setTokenCookies(
  reply: FastifyReply,
  tokens: { accessToken: string; refreshToken: string; accessTokenExpiresAt: string; refreshTokenExpiresAt: string },
): string {
  const seconds = (iso: string): number => Math.max(0, Math.floor((new Date(iso).getTime() - Date.now()) / 1000));
  void reply.setCookie(ACCESS_COOKIE, tokens.accessToken, { ...base, path: '/', maxAge: seconds(tokens.accessTokenExpiresAt) });
  void reply.setCookie(REFRESH_COOKIE, tokens.refreshToken, { ...base, path: '/auth', maxAge: seconds(tokens.refreshTokenExpiresAt) });
  const csrf = randomBytes(32).toString('base64url');
  void reply.setCookie(CSRF_COOKIE, csrf, { ...base, httpOnly: false, path: '/', maxAge: seconds(tokens.refreshTokenExpiresAt) });
  return csrf;
}

export function clearTokenCookies(reply: FastifyReply): void {
  void reply.clearCookie(ACCESS_COOKIE, { ...base, path: '/' });
  void reply.clearCookie(REFRESH_COOKIE, { ...base, path: '/auth' });
  void reply.clearCookie(CSRF_COOKIE, { ...base, httpOnly: false, path: '/' });
}
