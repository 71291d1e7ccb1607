import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { Redis } from 'ioredis';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { createRedisClient } from '../platform/config/redis-client.js';
import { ANY_DOMAIN_EVENT, type DomainEvent } from './events.js';

/**
 * With REDIS_URL set, every domain event goes out as JSON on the `<REDIS_PREFIX>.events` channel and
 * as a Nest event pattern (its type) on the Redis transport, for sibling apps' @EventPattern handlers.
 * Publishing never holds up or fails the call that caused the event. While Redis is unreachable,
 * events are dropped (warned once per outage) and the connection keeps reconnecting by itself.
 */
@Injectable()
export class RedisEventsPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RedisEvents');
  private redis?: Redis;
  private failing = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    const r = this.config.redis;
    if (!r) return;
    // A command timeout: with Redis not answering, publications would otherwise pile up in memory.
    this.redis = createRedisClient(r, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 5000,
    });
    this.redis.on('error', (error: Error) => this.failed(`events publisher: ${error.message}`));
    this.redis.on('ready', () => {
      if (this.failing) this.logger.log('events publisher connected to Redis again');
      this.failing = false;
    });
    this.redis.connect().catch(() => undefined);
  }

  get channel(): string {
    return `${this.config.redis?.prefix ?? 'gatehouse'}.events`;
  }

  @OnEvent(ANY_DOMAIN_EVENT)
  publish(event: DomainEvent): void {
    if (!this.redis) return;
    this.redis
      .publish(this.channel, JSON.stringify(event))
      .catch((error: Error) => this.failed(`event ${event.type} not published: ${error.message}`));
    // What Nest's Redis client sends for emit(type, event), on this same connection: Nest's client
    // would add two more connections, each logging every reconnection attempt of an outage.
    this.redis
      .publish(event.type, JSON.stringify({ pattern: event.type, data: event }))
      .catch((error: Error) => this.failed(`event pattern ${event.type} not emitted: ${error.message}`));
  }

  /** The first failure of an outage is logged; the rest of it would only repeat it. */
  private failed(message: string): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`${message} (further failures are not logged until Redis answers again)`);
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}
