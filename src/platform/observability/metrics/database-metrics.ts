import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { MetricsService } from './metrics.service.js';

/** A scrape never waits longer than this for the database; past it, the outbox gauge is left out. */
export const SCRAPE_QUERY_TIMEOUT_MS = 1000;

/** Resolves to the promise's value, or to undefined when it fails or takes longer than `ms`. */
export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      () => { clearTimeout(timer); resolve(undefined); },
    );
  });
}

/**
 * Gauges read at scrape time: the pg pool under TypeORM (clients open, idle, requests waiting for
 * one) and the outbox backlog (one count on the partial index of unsent mail). While the database
 * is unreachable the scrape still answers at once, without the outbox gauge.
 */
@Injectable()
export class DatabaseMetrics {
  private pendingQuery?: Promise<number | undefined>;

  constructor(
    metrics: MetricsService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    const registers = [metrics.registry];
    const pool = (): Pool | undefined => this.pool();
    const poolGauge = (name: string, help: string, read: (pool: Pool) => number): Gauge =>
      new Gauge({
        name, help, registers,
        collect(this: Gauge): void {
          const current = pool();
          if (current) this.set(read(current));
          else this.remove();
        },
      });
    poolGauge('gatehouse_db_pool_clients', 'Connections the database pool holds, idle or in use.', (p) => p.totalCount);
    poolGauge('gatehouse_db_pool_idle_clients', 'Pooled database connections not in use.', (p) => p.idleCount);
    poolGauge('gatehouse_db_pool_waiting_requests', 'Queries waiting for a pooled database connection.', (p) => p.waitingCount);
    poolGauge('gatehouse_db_pool_max_clients', 'The database pool size (DATABASE_POOL_SIZE).', (p) => p.options.max ?? 0);

    const countPending = (): Promise<number | undefined> => settleWithin(this.countPending(), SCRAPE_QUERY_TIMEOUT_MS);
    new Gauge({
      name: 'gatehouse_mail_outbox_pending',
      help: 'Outbox mails not yet sent (waiting, being sent, or waiting for a retry); absent when the database did not answer.',
      registers,
      async collect(this: Gauge): Promise<void> {
        const count = await countPending();
        if (count === undefined) this.remove();
        else this.set(count);
      },
    });
  }

  /** One count at a time: scrapes during an outage share the query in flight instead of piling up. */
  private countPending(): Promise<number | undefined> {
    this.pendingQuery ??= this.dataSource.query<Array<{ n: number }>>(`SELECT count(*)::int AS n FROM mail_outbox WHERE status IN ('pending', 'sending')`)
      .then((rows) => rows[0]?.n, () => undefined)
      .finally(() => { this.pendingQuery = undefined; });
    return this.pendingQuery;
  }

  /** The pg pool of TypeORM's postgres driver, once the DataSource is up. */
  private pool(): Pool | undefined {
    if (!this.dataSource.isInitialized) return undefined;
    const master = (this.dataSource.driver as { master?: Pool }).master;
    return master && typeof master.totalCount === 'number' ? master : undefined;
  }
}
