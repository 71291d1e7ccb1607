import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { DOCS_PATH } from '../openapi/openapi.js';
import { REQUEST_ID_HEADER } from './http-exchanges.js';

const NO_STORE_PREFIXES = ['/auth', '/sessions'];
const ALLOWED_METHODS = 'GET, POST, PUT, DELETE';
const ALLOWED_HEADERS = 'authorization, content-type, x-csrf-token';

// JSON only: nothing here is ever to be rendered, framed or scripted.
const CLOSED_CSP = "default-src 'none'; frame-ancestors 'none'";
/**
 * The Swagger UI pages alone need their own scripts and styles (and inline styles, data: images).
 * The spec is embedded in the page, so nothing is fetched from elsewhere (the online validator is off).
 */
const DOCS_UI_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const isDocsUi = (url: string): boolean => url === DOCS_PATH || url.startsWith(`${DOCS_PATH}/`) || url.startsWith(`${DOCS_PATH}?`);

const noStore = (url: string): boolean => NO_STORE_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`));

/**
 * Browser-facing headers on every response, and CORS for an exact allowlist: the request's Origin
 * is echoed only when listed (never `*`, never `null`), with `Vary: Origin` whenever CORS is on.
 * Hooks in callback style on purpose: an async hook costs a promise on every response.
 */
export function installHttpHeaders(fastify: FastifyInstance, corsOrigins: string[]): void {
  fastify.addHook('onSend', (request, reply, payload, done) => {
    setResponseHeaders(request, reply);
    done(null, payload);
  });
  // Without CORS there is nothing to do before the route: no hook at all.
  if (corsOrigins.length === 0) return;
  const allowed = new Set(corsOrigins);
  fastify.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    void reply.header('Vary', 'Origin');
    if (typeof origin === 'string' && allowed.has(origin)) {
      void reply.header('Access-Control-Allow-Origin', origin);
      void reply.header('Access-Control-Allow-Credentials', 'true');
      void reply.header('Access-Control-Expose-Headers', 'Retry-After');
      if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
        void reply
          .header('Access-Control-Allow-Methods', ALLOWED_METHODS)
          .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
          .header('Access-Control-Max-Age', '600')
          .code(204)
          .send();
        return;
      }
    }
    done();
  });
}

/**
 * The headers every response carries, its request id included (the onSend hook's; also set by
 * answers made outside the hooks).
 */
export function setResponseHeaders(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header(REQUEST_ID_HEADER, request.id);
  void reply.header('X-Content-Type-Options', 'nosniff');
  void reply.header('Referrer-Policy', 'no-referrer');
  void reply.header('Content-Security-Policy', isDocsUi(request.url) ? DOCS_UI_CSP : CLOSED_CSP);
  if (noStore(request.url)) void reply.header('Cache-Control', 'no-store');
}
