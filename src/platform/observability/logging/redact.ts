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

// A query or fragment parameter (`?name=value`); it is blanked when its name says it carries a
// credential: token, code and key, and any name containing one of these words, whatever the case or
// separators (refreshToken, newPassword, client_secret, user[password], apiKey). The name is tested
// apart, so matching stays linear in the text.
const QUERY_PARAM = /([?&#;])([\w.%[\]-]+)=([^&#\s"'<>]*)/g;
const SECRET_NAME = /^(?:code|key)$|token|password|passwd|pwd|secret|signature|csrf|api[_-]?key/i;

// Authorization-style credentials.
const CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
// JWS compact serialisations (our access tokens and anyone else's).
const JWT = /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g;
// user:password@ in connection URLs (DATABASE_URL, REDIS_URL, SMTP_URL).
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@/?#\s]+@/gi;

export function redactText(text: string): string {
  return text
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(QUERY_PARAM, (param: string, separator: string, name: string) =>
      SECRET_NAME.test(name) ? `${separator}${name}=${REDACTED}` : param,
    )
    .replace(CREDENTIAL, `$1 ${REDACTED}`)
    .replace(JWT, REDACTED);
}

/** A request URL with its credential-bearing parameters blanked; bounded so one request cannot flood a line. */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  return redactText(url.length > 2048 ? `${url.slice(0, 2048)}…` : url);
}
