import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Redis } from 'ioredis';
import { ANY_DOMAIN_EVENT, type DomainEvent } from '../common/events.js';
import { APP_CONFIG, type AppConfig, redisClientOptions } from '../config/app-config.js';

const RECONNECT_DELAY_MS = 2000;

/**
 * With REDIS_URL set, every domain event goes out as JSON on the `<REDIS_PREFIX>.events` channel and
 * as a Nest event pattern (its type) on the Redis transport, for sibling apps' @EventPattern handlers.
 * Publishing never holds up or fails the call that caused the event. While Redis is unreachable,
 * events are dropped (warned once per outage) and both connections keep reconnecting by themselves.
 */
@Injectable()
export class RedisEventsPublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RedisEvents');
  private redis?: Redis;
  private client?: ClientProxy;
  private failing = false;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  onModuleInit(): void {
    const r = this.config.redis;
    if (!r) return;
    const options = redisClientOptions(r);
    this.redis = new Redis({ ...options, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.redis.on('error', (error: Error) => this.failed(`events publisher: ${error.message}`));
    this.redis.on('ready', () => {
      if (this.failing) this.logger.log('events publisher connected to Redis again');
      this.failing = false;
    });
    this.redis.connect().catch(() => undefined);
    // Nest's Redis client gives up after the first lost connection unless told to retry.
    this.client = ClientProxyFactory.create({ transport: Transport.REDIS, options: { ...options, retryAttempts: Number.MAX_SAFE_INTEGER, retryDelay: RECONNECT_DELAY_MS } });
  }

  get channel(): string {
    return `${this.config.redis?.prefix ?? 'gatehouse'}.events`;
  }

  @OnEvent(ANY_DOMAIN_EVENT)
  publish(event: DomainEvent): void {
    if (!this.redis || !this.client) return;
    this.redis.publish(this.channel, JSON.stringify(event)).catch((error: Error) => this.failed(`event ${event.type} not published: ${error.message}`));
    this.client.emit(event.type, event).subscribe({ error: (error: unknown) => this.failed(`event pattern ${event.type} not emitted: ${error instanceof Error ? error.message : String(error)}`) });
  }

  /** The first failure of an outage is logged; the rest of it would only repeat it. */
  private failed(message: string): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn(`${message} (further failures are not logged until Redis answers again)`);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client?.close();
    this.redis?.disconnect();
  }
}
