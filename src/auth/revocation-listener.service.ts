import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { Client } from 'pg';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { AUTH_CHANGES_CHANNEL, SESSION_REVOKED, type SessionRevokedEvent } from '../sessions/sessions.service.js';
import { AuthStateCache } from './auth-state.cache.js';

const RECONNECT_MS = [100, 500, 1000, 2000, 5000];

/**
 * Feeds AuthStateCache with every revocation. Local ones arrive as events; those of other instances
 * as PostgreSQL notifications, sent by the revoking statement itself (so a committed revocation is
 * always announced). The cache is enabled only while that LISTEN connection is up; with the
 * embedded database there is only this process, and local events are enough.
 */
@Injectable()
export class RevocationListener implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationListener.name);
  private client?: Client;
  private attempt = 0;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private readonly dead = new WeakSet<Client>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly cache: AuthStateCache,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.database.url) {
      this.cache.setEnabled(true);
      return;
    }
    await this.connect();
  }

  @OnEvent(SESSION_REVOKED)
  onLocalRevocation(event: SessionRevokedEvent): void {
    this.cache.invalidateSession(event.sessionId);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.config.database.url, connectionTimeoutMillis: 3000, application_name: 'gatehouse-listener' });
    client.on('notification', (message) => this.apply(message.payload));
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${AUTH_CHANGES_CHANNEL}`);
    } catch (error) {
      this.logger.warn(`revocation listener not connected (${(error as Error).message}); checking sessions in the database on every call`);
      this.lost(client);
      return;
    }
    this.client = client;
    this.attempt = 0;
    this.cache.setEnabled(true);
  }

  private apply(payload: string | undefined): void {
    if (!payload) return;
    const [kind, id] = payload.split(':', 2);
    if (kind === 'session' && id) this.cache.invalidateSession(id);
    else if (kind === 'user' && id) this.cache.invalidateUser(id);
  }

  private lost(client: Client): void {
    if (this.dead.has(client)) return;
    this.dead.add(client);
    // Without the listener a revocation elsewhere could go unseen: stop trusting the cache at once.
    this.cache.setEnabled(false);
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
