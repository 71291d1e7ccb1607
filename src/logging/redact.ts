/**
 * Secret scrubbing for log lines. Structured fields are covered by pino's `redact` paths
 * (REDACT_PATHS); these patterns clean free text (messages, error texts, URLs) of the secrets that
 * can end up there: token-bearing links, bearer credentials, JWTs and passwords inside URLs.
 */

export const REDACTED = '[redacted]';

/** Field paths pino blanks wherever they occur in a logged object, up to two levels down. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  ...[
    'password',
    'currentPassword',
    'newPassword',
    'passwordHash',
    'token',
    'accessToken',
    'refreshToken',
    'csrfToken',
    'authorization',
    'cookie',
    'secret',
    'link',
  ].flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
];

// A query or fragment parameter that carries a credential: ?token=…, &refresh_token=…, #code=…
const SECRET_PARAM = /([?&#;](?:token|code|key|password|secret|signature|access_token|refresh_token|id_token|csrf)=)[^&#\s"'<>]*/gi;
// Authorization-style credentials.
const CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// JWS compact serialisations (our access tokens and anyone else's).
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
// user:password@ in connection URLs (DATABASE_URL, REDIS_URL, SMTP_URL).
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@/?#\s]+@/gi;

export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(SECRET_PARAM, `$1${REDACTED}`)
    .replace(CREDENTIAL, `$1 ${REDACTED}`)
    .replace(JWT, REDACTED);
}

/** A request URL with its credential-bearing parameters blanked; bounded so one request cannot flood a line. */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  return redactText(url.length > 2048 ? `${url.slice(0, 2048)}…` : url);
}
