import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { AUTH_CHANGE_ANNOUNCED, AUTH_CHANGES_CHANNEL, KEYS_CHANGED, type AuthChangeAnnouncedEvent } from '../events/auth-changes.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { NotificationConnection } from '../platform/database/notification-connection.js';

const RECONNECT_MS = [100, 500, 1000, 2000, 5000];
/** How long a changing call waits for its own announcement before it deems the feed broken. */
const DELIVERY_WAIT_MS = 250;
/** Announcements remembered, for a call whose announcement arrived before it started waiting. */
const RECENT_MS = 5_000;
/** A silently dead connection is noticed within PING_EVERY_MS + PING_TIMEOUT_MS. */
const PING_EVERY_MS = 2_000;
const PING_TIMEOUT_MS = 1_000;

/**
 * Every instance LISTENs for the notifications that revoking (and user-changing) statements send, in
 * the statement itself, so a committed change is always announced. Caches may trust their state only
 * while the feed is live: connected, and proven so by a ping through PostgreSQL every two seconds.
 * Any doubt (an error, a missed ping, a change whose own announcement does not come back) ends the
 * connection, which makes the feed not live until a new one is established. With the embedded
 * database there is only this process: the feed is live at once and local events are all there is.
 *
 * The connection itself (LISTEN, and the ping's pg_notify) is platform plumbing: it carries no
 * aggregate's rows, and the channel also carries users' and keys' changes. What the payloads mean,
 * and when to distrust and reconnect, is decided here.
 */
@Injectable()
export class RevocationFeed implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationFeed.name);
  private readonly instanceId = randomUUID();
  private connection?: NotificationConnection;
  private readonly dead = new WeakSet<NotificationConnection>();
  private attempt = 0;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private pinger?: NodeJS.Timeout;
  private pingDeadline?: NodeJS.Timeout;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly recent = new Map<string, number>();
  private connections = 0;
  private live = false;
  /** A failed connection attempt has been logged and no connection made since. */
  private reported = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly events: EventEmitter2,
  ) {}

  /**
   * While every change is sure to reach this instance: a number that changes with each
   * (re)connection, so state cached before a gap is never trusted after it. Otherwise undefined.
   */
  get generation(): number | undefined {
    return this.live ? this.connections : undefined;
  }

  async onModuleInit(): Promise<void> {
    if (!this.config.database.url) {
      this.connections += 1;
      this.live = true;
      return;
    }
    await this.connect();
  }

  /**
   * Resolves once this instance has received these announcements (`session:<id>`, `user:<id>`).
   * PostgreSQL signals every listener from the same commit, so when the changing call answers, the
   * other instances have been sent the news too. If they do not come back in time, the feed is
   * deemed broken (caches stop trusting themselves) and the call goes on.
   */
  awaitDelivery(keys: string[]): Promise<void> {
    const connection = this.connection;
    const pending = keys.filter((key) => !this.recent.has(key));
    if (!connection || pending.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let left = pending.length;
      const done = (): void => {
        left -= 1;
        if (left === 0) finish(false);
      };
      const finish = (timedOut: boolean): void => {
        clearTimeout(timer);
        for (const key of pending) this.waiters.get(key)?.delete(done);
        if (timedOut) {
          this.logger.warn('a change was not announced back in time; the revocation feed reconnects');
          this.lost(connection);
        }
        resolve();
      };
      const timer = setTimeout(() => finish(true), DELIVERY_WAIT_MS);
      for (const key of pending) {
        const set = this.waiters.get(key) ?? new Set();
        set.add(done);
        this.waiters.set(key, set);
      }
    });
  }

  private async connect(): Promise<void> {
    const url = this.config.database.url;
    if (!url) return;
    const connection: NotificationConnection = new NotificationConnection({
      url,
      channel: AUTH_CHANGES_CHANNEL,
      applicationName: 'gatehouse-listener',
      onNotification: (payload) => this.deliver(payload),
      onLost: () => this.lost(connection),
    });
    try {
      await connection.open();
    } catch (error) {
      // Once per outage, not on every reconnection attempt.
      if (!this.reported)
        this.logger.warn(
          `revocation feed not connected (${(error as Error).message}); sessions are checked in the database on every call until it is`,
        );
      this.reported = true;
      this.lost(connection);
      return;
    }
    if (this.stopped || this.dead.has(connection)) {
      this.dead.add(connection);
      await connection.close();
      return;
    }
    this.connection = connection;
    if (this.reported) this.logger.log('revocation feed connected again');
    this.reported = false;
    this.attempt = 0;
    this.connections += 1;
    this.live = true;
    this.pinger = setInterval(() => this.ping(connection), PING_EVERY_MS);
    this.pinger.unref();
  }

  private ping(connection: NotificationConnection): void {
    if (this.pingDeadline) return;
    this.pingDeadline = setTimeout(() => {
      this.logger.warn('revocation feed ping not answered; reconnecting');
      this.lost(connection);
    }, PING_TIMEOUT_MS);
    connection.notify(`ping:${this.instanceId}`).catch(() => this.lost(connection));
  }

  private deliver(payload: string | undefined): void {
    const [kind, id] = (payload ?? '').split(':', 2);
    if (kind === 'ping') {
      if (id === this.instanceId && this.pingDeadline) {
        clearTimeout(this.pingDeadline);
        this.pingDeadline = undefined;
      }
      return;
    }
    if (kind === 'keys') {
      this.events.emit(KEYS_CHANGED);
      return;
    }
    if ((kind !== 'session' && kind !== 'user') || !id) return;
    this.events.emit(AUTH_CHANGE_ANNOUNCED, { kind, id } satisfies AuthChangeAnnouncedEvent);
    const key = `${kind}:${id}`;
    this.remember(key);
    const waiting = this.waiters.get(key);
    this.waiters.delete(key);
    for (const done of waiting ?? []) done();
  }

  private remember(key: string): void {
    const now = Date.now();
    this.recent.set(key, now);
    // Insertion order is time order: drop what is too old to matter.
    for (const [old, at] of this.recent) {
      if (now - at <= RECENT_MS) break;
      this.recent.delete(old);
    }
  }

  private lost(connection: NotificationConnection): void {
    if (this.dead.has(connection)) return;
    this.dead.add(connection);
    if (this.connection === connection) {
      // A change elsewhere could now go unseen: caches must stop trusting their state at once.
      this.live = false;
      this.connection = undefined;
      clearInterval(this.pinger);
      clearTimeout(this.pingDeadline);
      this.pingDeadline = undefined;
    }
    void connection.close();
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
    clearTimeout(this.retry);
    clearInterval(this.pinger);
    clearTimeout(this.pingDeadline);
    const connection = this.connection;
    this.connection = undefined;
    this.live = false;
    if (connection) {
      this.dead.add(connection);
      await connection.close();
    }
  }
}
