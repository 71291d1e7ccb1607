import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';

import { isDatabaseUnavailable } from '../../shared/errors/error-mapping.js';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.js';

/**
 * connecting: no connection yet, retrying; starting: connected (migrations done), running what was
 * deferred until then; ready: everything that needs the database at start has run.
 */
export type DatabaseState = 'connecting' | 'starting' | 'ready';

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
/** While the same error repeats, it is logged once a minute rather than on every attempt. */
const REPEAT_LOG_MS = 60_000;

interface StartupTask {
  name: string;
  run: () => Promise<void>;
}

/** Capped exponential backoff with ±20% jitter, so instances started together do not retry in step. */
export function retryDelay(attempt: number): number {
  const base = Math.min(RETRY_FIRST_MS * 2 ** Math.max(0, attempt - 1), RETRY_MAX_MS);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Owns the DataSource's connection and the work that needs the database at start.
 *
 * With DATABASE_URL set, the first attempt is made at start. If the server cannot be reached, the
 * service starts anyway, not ready (503 SERVICE_UNAVAILABLE for what needs the database), and keeps
 * trying in the background with capped backoff; once connected (and migrated, when MIGRATIONS_RUN is
 * on) it runs the start-up work the other services deferred (signing keys, bootstrap admin, outbox
 * worker) and becomes ready. A server that answers but refuses the configuration (bad credentials,
 * unknown database, TLS mismatch) or a failing migration stops the start instead: waiting cannot fix
 * those. With the embedded database (DATABASE_URL unset) everything happens at start, as before.
 */
@Injectable()
export class DatabaseConnection implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private embedded?: EmbeddedPostgres;
  private dataSource?: DataSource;
  private current: DatabaseState = 'connecting';
  private readonly deferred: StartupTask[] = [];
  private background?: Promise<void>;
  private stopped = false;
  private wake?: () => void;
  private lastLogged?: { text: string; at: number };

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get state(): DatabaseState {
    return this.current;
  }

  /** Connected, migrated, and the start-up work done. */
  get ready(): boolean {
    return this.current === 'ready';
  }

  async url(): Promise<string> {
    if (this.config.database.url) return this.config.database.url;
    this.embedded = await startEmbeddedPostgres(this.config.dataDir, this.config.database.poolSize + 2);
    return this.embedded.url;
  }

  /**
   * Connects the DataSource (running the migrations when configured). Resolves with it connected, or
   * not yet connected when the server is unreachable; rejects when the start must stop.
   */
  async open(dataSource: DataSource): Promise<DataSource> {
    this.dataSource = dataSource;
    if (!this.config.database.url) {
      await dataSource.initialize();
      this.current = 'ready';
      return dataSource;
    }
    try {
      await this.initialize(dataSource);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) {
        throw new Error(`cannot use the database: ${this.describe(error)} (check DATABASE_URL)`, { cause: error });
      }
      this.logger.warn(`the database is not reachable (${this.describe(error)}): starting not ready and connecting in the background`);
      this.background = this.connectInBackground(dataSource);
      return dataSource;
    }
    this.current = 'ready';
    return dataSource;
  }

  /**
   * Runs start-up work that needs the database: at once when it is connected (a failure then stops
   * the start, as it always has), otherwise as soon as it is, retried until it succeeds.
   */
  async whenConnected(name: string, task: () => Promise<void> | void): Promise<void> {
    if (this.current === 'ready') {
      await task();
      return;
    }
    this.deferred.push({ name, run: async () => task() });
  }

  beforeApplicationShutdown(): Promise<void> | undefined {
    this.stopped = true;
    this.wake?.();
    // An attempt in flight finishes (bounded by the connect timeout) so that no pool outlives the app.
    return this.background;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) return;
    if (this.dataSource?.isInitialized) await this.dataSource.destroy();
    await this.embedded.stop();
  }

  private async initialize(dataSource: DataSource): Promise<void> {
    // Instances starting together on a new database would run the same migrations at once.
    const unlock = this.config.database.migrationsRun ? await this.lockMigrations() : undefined;
    try {
      await dataSource.initialize();
    } catch (error) {
      // A failure after the pool was made (its first queries) leaves that pool open: close it.
      const driver = dataSource.driver as unknown as { master?: { end(): Promise<void> } };
      if (!dataSource.isInitialized && driver.master) {
        const pool = driver.master;
        driver.master = undefined;
        await pool.end().catch(() => undefined);
      }
      throw error;
    } finally {
      await unlock?.();
    }
  }

  /** A session-level advisory lock held on a connection of its own (not the pool's) while migrating. */
  private async lockMigrations(): Promise<() => Promise<void>> {
    const client = new Client({
      connectionString: this.config.database.url,
      connectionTimeoutMillis: 3000,
      application_name: 'gatehouse-migrations',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(`SELECT pg_advisory_lock(hashtext('gatehouse:migrations'))`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    // Ending the connection releases the lock.
    return () => client.end().catch(() => undefined);
  }

  private async connectInBackground(dataSource: DataSource): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      await this.sleep(retryDelay(attempt));
      if (this.stopped) return;
      try {
        await this.initialize(dataSource);
        break;
      } catch (error) {
        const reason = isDatabaseUnavailable(error) ? 'still not reachable' : 'refused';
        this.logRepeated(`the database is ${reason} (${this.describe(error)}); retrying`, !isDatabaseUnavailable(error));
      }
    }
    if (this.stopped) {
      // The application closed while the connection was being made: nothing else will close it.
      await dataSource.destroy().catch(() => undefined);
      return;
    }
    this.logger.log('connected to the database');
    this.current = 'starting';
    for (let attempt = 1; this.deferred.length > 0;) {
      if (this.stopped) return;
      const task = this.deferred[0];
      try {
        await task.run();
        this.deferred.shift();
        attempt = 1;
      } catch (error) {
        this.logRepeated(`${task.name} failed (${this.describe(error)}); retrying`, false);
        await this.sleep(retryDelay(attempt));
        attempt += 1;
      }
    }
    if (this.stopped) return;
    this.current = 'ready';
    this.logger.log('the database is connected and the start-up work done: ready');
  }

  private logRepeated(text: string, asError: boolean): void {
    const now = Date.now();
    if (this.lastLogged && this.lastLogged.text === text && now - this.lastLogged.at < REPEAT_LOG_MS) return;
    this.lastLogged = { text, at: now };
    if (asError) this.logger.error(text);
    else this.logger.warn(text);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** The driver's message, never the URL's password. */
  private describe(error: unknown): string {
    const e = error as { message?: unknown; code?: unknown } | undefined;
    let text = (typeof e?.message === 'string' && e.message) || (typeof e?.code === 'string' && e.code) || 'unknown error';
    const password = passwordOf(this.config.database.url);
    if (password) text = text.split(password).join('***');
    return text.slice(0, 300);
  }
}

function passwordOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}
