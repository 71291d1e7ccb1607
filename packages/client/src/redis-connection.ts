import type { ConnectionOptions } from 'node:tls';

/**
 * TLS settings for the client's connections (gatehouse's TCP listener, Redis): a private CA, a
 * client certificate and its key, the name the server's certificate is issued to when it is not
 * the host connected to. PEM text or Buffers, as node's `tls.connect` takes them.
 */
export type ClientTlsOptions = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'servername' | 'rejectUnauthorized'>;

/** ioredis connection options (also what Nest's Redis transport passes on to ioredis). */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: ConnectionOptions;
}

const fail = (problem: string): Error => new Error(`gatehouse/client: the Redis URL ${problem}`);

function decoded(part: string, what: string): string | undefined {
  if (!part) return undefined;
  try {
    return decodeURIComponent(part);
  } catch {
    // Never echo the part: it may be the password.
    throw fail(`has a ${what} that is not correctly percent-encoded`);
  }
}

/**
 * The connection options of a `redis://` or `rediss://` URL: TLS for `rediss:` (with `tls` merged
 * in), the ACL user name and password percent-decoded (`redis://user:pass@…` and `redis://:pass@…`),
 * the database index from the path. Errors never repeat the URL, which may hold a password.
 */
export function redisConnectionOptions(url: string, tls?: ClientTlsOptions): RedisConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fail('is not a valid URL');
  }
  const secure = parsed.protocol === 'rediss:';
  if (!secure && parsed.protocol !== 'redis:') throw fail(`must start with redis:// or rediss:// (it starts with ${parsed.protocol}//)`);
  // TLS settings with redis:// would mean TLS was wanted and the password would travel in the clear.
  if (!secure && tls) throw fail('starts with redis:// but TLS options were given: use rediss:// for TLS');
  // Outside the special schemes an IPv6 host keeps its brackets.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw fail('names no host');
  const dbPart = parsed.pathname.replace(/^\//, '');
  if (dbPart !== '' && !/^\d+$/.test(dbPart)) throw fail('path must be a database index (a whole number)');
  const username = decoded(parsed.username, 'user name');
  const password = decoded(parsed.password, 'password');
  return {
    host,
    port: parsed.port ? Number(parsed.port) : 6379,
    db: dbPart === '' ? 0 : Number(dbPart),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(secure ? { tls: { ...tls } } : {}),
  };
}
