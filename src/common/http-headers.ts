import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const NO_STORE_PREFIXES = ['/auth', '/sessions'];
const ALLOWED_METHODS = 'GET, POST, PUT, DELETE';
const ALLOWED_HEADERS = 'authorization, content-type, x-csrf-token';

const noStore = (url: string): boolean => NO_STORE_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`) || url.startsWith(`${p}?`));

/**
 * Browser-facing headers on every response, and CORS for an exact allowlist: the request's Origin
 * is echoed only when listed (never `*`, never `null`), with `Vary: Origin` whenever CORS is on.
 * Hooks in callback style on purpose: an async hook costs a promise on every response.
 */
export function installHttpHeaders(fastify: FastifyInstance, corsOrigins: string[]): void {
  const allowed = new Set(corsOrigins);
  fastify.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    if (allowed.size > 0) void reply.header('Vary', 'Origin');
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
  fastify.addHook('onSend', (request, reply, payload, done) => {
    setResponseHeaders(request, reply);
    done(null, payload);
  });
}

/** The headers every response carries (the onSend hook's; also set by answers made outside the hooks). */
export function setResponseHeaders(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('X-Content-Type-Options', 'nosniff');
  void reply.header('Referrer-Policy', 'no-referrer');
  // JSON only: nothing here is ever to be rendered, framed or scripted.
  void reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  if (noStore(request.url)) void reply.header('Cache-Control', 'no-store');
}
