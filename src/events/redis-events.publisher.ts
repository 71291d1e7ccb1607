import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { ANY_DOMAIN_EVENT, type DomainEvent } from '../common/events.js';
import { APP_CONFIG, type AppConfig, redisClientOptions } from '../config/app-config.js';

/**
 * With REDIS_URL set, every domain event goes out as JSON on the `<REDIS_PREFIX>.events` channel and
 * as a Nest event pattern (its type) on the Redis transport, for sibling apps' @EventPattern handlers.
 * Publishing never holds up or fails the call that caused the event.
 */
@Injectable()
export class RedisEventsPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RedisEvents');
  private redis?: Redis;
  private client?: ClientProxy;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    const r = this.config.redis;
    if (!r) return;
    const options = redisClientOptions(r);
    this.redis = new Redis({ ...options, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.redis.on('error', (error: Error) => this.logger.warn(`events publisher: ${error.message}`));
    this.redis.connect().catch(() => undefined);
    this.client = ClientProxyFactory.create({ transport: Transport.REDIS, options });
  }

  get channel(): string {
    return `${this.config.redis?.prefix ?? 'gatehouse'}.events`;
  }

  @OnEvent(ANY_DOMAIN_EVENT)
  publish(event: DomainEvent): void {
    if (!this.redis || !this.client) return;
    this.redis.publish(this.channel, JSON.stringify(event)).catch((error: Error) => this.logger.warn(`event ${event.type} not published: ${error.message}`));
    this.client.emit(event.type, event).subscribe({ error: (error: Error) => this.logger.warn(`event pattern ${event.type} not emitted: ${error.message}`) });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client?.close();
    this.redis?.disconnect();
  }
}
