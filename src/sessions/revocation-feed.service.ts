import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Client } from 'pg';
import { AUTH_CHANGE_ANNOUNCED, AUTH_CHANGES_CHANNEL, type AuthChangeAnnouncedEvent } from '../common/auth-changes.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';



const RECONNECT_MS = [100, 500, 1000, 2000, 5000];
const DELIVERY_WAIT_MS = 250;

/**
 * Every instance LISTENs for the notifications that revoking (and user-changing) statements send, in
 * the statement itself, so a committed change is always announced. Caches may trust their state only while
 * the feed is live. With the embedded database there is only this process: the feed is live at
 * once and local events are all there is.
 */
@Injectable()
export class RevocationFeed implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationFeed.name);
  private client?: Client;
  private readonly dead = new WeakSet<Client>();
  private attempt = 0;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private readonly waiters = new Map<string, Array<() => void>>();
  private connections = 0;
  private live = false;

  /**
   * While every revocation is sure to reach this instance: a number that changes with each
   * (re)connection, so state cached before an outage is never trusted after it. Otherwise undefined.
   */
  get generation(): number | undefined {
    return this.live ? this.connections : undefined;
  }

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: EventEmitter2,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.database.url) {
      this.connections += 1;
      this.live = true;
      return;
    }
    await this.connect();
  }

  /**
   * Resolves once this instance has received these announcements (`session:<id>`, `user:<id>`), or
   * after a short bound. PostgreSQL signals every listener from the same commit, so when the changing
   * call answers, the other instances have been sent the news too.
   */
  awaitDelivery(keys: string[]): Promise<void> {
    if (!this.client || keys.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let pending = keys.length;
      const timer = setTimeout(resolve, DELIVERY_WAIT_MS);
      const done = (): void => {
        pending -= 1;
        if (pending === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const key of keys) this.waiters.set(key, [...(this.waiters.get(key) ?? []), done]);
    });
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.config.database.url, connectionTimeoutMillis: 3000, application_name: 'gatehouse-listener' });
    client.on('notification', (message) => this.deliver(message.payload));
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANGES_CHANNEL}`);
    } catch (error) {
      this.logger.warn(`revocation feed not connected (${(error as Error).message}); sessions are checked in the database on every call until it is`);
      this.lost(client);
      return;
    }
    this.client = client;
    this.attempt = 0;
    this.connections += 1;
    this.live = true;
  }

  private deliver(payload: string | undefined): void {
    const [kind, id] = (payload ?? '').split(':', 2);
    if ((kind !== 'session' && kind !== 'user') || !id) return;
    this.events.emit(AUTH_CHANGE_ANNOUNCED, { kind, id } satisfies AuthChangeAnnouncedEvent);
    const key = `${kind}:${id}`;
    const waiting = this.waiters.get(key);
    this.waiters.delete(key);
    for (const done of waiting ?? []) done();
  }

  private lost(client: Client): void {
    if (this.dead.has(client)) return;
    this.dead.add(client);
    // A revocation elsewhere could now go unseen: caches must stop trusting their state at once.
    this.live = false;
    if (this.client === client) this.client = undefined;
    client.end().catch(() => undefined);
    if (this.stopped || this.retry) return;
    const delay = RECONNECT_MS[Math.min(this.attempt, RECONNECT_MS.length - 1)];
    this.attempt += 1;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.connect();
    }, delay);
    this.retry.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    if (client) {
      this.dead.add(client);
      await client.end().catch(() => undefined);
    }
  }
}
