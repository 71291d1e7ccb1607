import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { createRedisClient } from '../platform/config/redis-client.js';

const WINDOW_MS = 60_000;
/** A Redis that does not answer (frozen, or cut off without a reset) is given this long per request. */
const REDIS_TIMEOUT_MS = 1000;

/**
 * RATE_LIMIT_PER_MINUTE per client address, in one fixed one-minute window shared by the
 * unauthenticated auth routes. Counted in Redis when REDIS_URL is set (so every instance shares it),
 * in memory otherwise; while Redis is unreachable, in memory (never unlimited).
 */
@Injectable()
export class RateLimiter implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimiter');
  private redis?: Redis;
  private readonly local = new Map<string, number>();
  private localWindow = 0;
  private unavailable = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    const r = this.config.redis;
    if (!r) return;
    this.redis = createRedisClient(r, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: REDIS_TIMEOUT_MS,
      commandTimeout: REDIS_TIMEOUT_MS,
    });
    // Once per outage: ioredis reports every failed reconnection attempt.
    this.redis.on('error', (error: Error) => {
      if (!this.unavailable) this.logger.warn(`rate limits fall back to memory: ${error.message}`);
      this.unavailable = true;
    });
    this.redis.on('ready', () => {
      if (this.unavailable) this.logger.log('rate limits are counted in Redis again');
      this.unavailable = false;
    });
    this.redis.connect().catch(() => undefined);
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }

  /** Counts one request; undefined when allowed, else the seconds until the window ends. */
  async hit(address: string): Promise<number | undefined> {
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
    const count = (await this.countInRedis(address, window)) ?? this.countLocally(address, window);
    return count > this.config.rateLimitPerMinute ? retryAfter : undefined;
  }

  private async countInRedis(address: string, window: number): Promise<number | undefined> {
    if (!this.redis || this.redis.status !== 'ready') return undefined;
    const key = `${this.config.redis?.prefix ?? 'gatehouse'}:rate:${window}:${address}`;
    try {
      const results = await this.redis
        .multi()
        .incr(key)
        .pexpire(key, WINDOW_MS * 2)
        .exec();
      const count = results?.[0]?.[1];
      return typeof count === 'number' ? count : undefined;
    } catch (error) {
      // No answer: reconnect, so that the next requests count in memory at once (the connection is
      // not ready) instead of each waiting out the timeout on this one.
      if ((error as Error).message === 'Command timed out') this.redis.disconnect(true);
      return undefined;
    }
  }

  private countLocally(address: string, window: number): number {
    if (window !== this.localWindow) {
      this.local.clear();
      this.localWindow = window;
    }
    const count = (this.local.get(address) ?? 0) + 1;
    this.local.set(address, count);
    return count;
  }
}
