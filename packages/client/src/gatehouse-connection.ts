import { Transport, type ClientOptions } from '@nestjs/microservices';

import { redisConnectionOptions, type ClientTlsOptions } from './redis-connection.js';

/**
 * Where gatehouse's message patterns are reached. TCP: its listener, over TLS when `tls` is given
 * (needed when gatehouse runs with RPC_TLS_*: pass its CA and this app's client certificate and
 * key). Redis: `redis://` or `rediss://` (TLS; `tls` adds a private CA or a client certificate),
 * with `[user]:password@` and the database index honoured.
 */
export type GatehouseConnection =
  { transport: 'tcp'; host: string; port: number; tls?: ClientTlsOptions } | { transport: 'redis'; url: string; tls?: ClientTlsOptions };

/**
 * The Nest ClientProxy options of a connection. Throws on a bad Redis URL or an unknown transport,
 * so a mis-set app stops at start; errors never repeat the URL, which may hold a password.
 */
export function clientProxyOptions(connection: GatehouseConnection): ClientOptions {
  switch (connection.transport) {
    case 'tcp': {
      const { host, port, tls } = connection;
      return { transport: Transport.TCP, options: { host, port, ...(tls ? { tlsOptions: { ...tls } } : {}) } };
    }
    case 'redis':
      return { transport: Transport.REDIS, options: redisConnectionOptions(connection.url, connection.tls) };
    default:
      // Reachable from plain JavaScript or untyped configuration.
      throw new Error(
        `gatehouse/client: transport must be 'tcp' or 'redis' (got ${JSON.stringify((connection as { transport?: unknown }).transport)})`,
      );
  }
}

/**
 * The pattern name gatehouse answers on: with REDIS_PATTERN_PREFIX set on gatehouse, its Redis
 * channels are `<prefix>.<pattern>` (so deployments sharing one Redis never answer each other).
 */
export function patternName(pattern: string, prefix?: string): string {
  return prefix ? `${prefix}.${pattern}` : pattern;
}
