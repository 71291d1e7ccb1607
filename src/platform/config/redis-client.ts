import type { Redis, RedisOptions } from 'ioredis';

import { redisClientOptions, type RedisConnection } from './app-config.js';

/**
 * An ioredis client for REDIS_URL with `options`. ioredis is loaded with the first client, so an
 * instance without REDIS_URL never loads it (about 1 MiB resident).
 */
export function createRedisClient(connection: RedisConnection, options: RedisOptions): Redis {
  // A synchronous load, as the clients are made in onModuleInit: the service is built as CommonJS.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ioredis = require('ioredis') as typeof import('ioredis');
  return new ioredis.Redis({ ...redisClientOptions(connection), ...options });
}
