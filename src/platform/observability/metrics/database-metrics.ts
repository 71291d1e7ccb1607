import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';

import { MetricsService } from './metrics.service.js';

/**
 * Gauges read at scrape time from the pg pool under TypeORM: clients open, idle, requests waiting
 * for one. (Features add gauges that query the database through MetricsService.addScrapedGauge.)
 */
@Injectable()
export class DatabaseMetrics {
  constructor(
    metrics: MetricsService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {
    const registers = [metrics.registry];
    const pool = (): Pool | undefined => this.pool();
    const poolGauge = (name: string, help: string, read: (pool: Pool) => number): Gauge =>
      new Gauge({
        name,
        help,
        registers,
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
  }

  /** The pg pool of TypeORM's postgres driver, once the DataSource is up. */
  private pool(): Pool | undefined {
    if (!this.dataSource.isInitialized) return undefined;
    const master = (this.dataSource.driver as { master?: Pool }).master;
    return master && typeof master.totalCount === 'number' ? master : undefined;
  }
}
