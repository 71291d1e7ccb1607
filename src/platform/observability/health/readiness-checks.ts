import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import { DataSource } from 'typeorm';

import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';
import { createRedisClient } from '../../config/redis-client.js';
import { DatabaseConnection } from '../../database/database-connection.js';
import { pgPool, queryWithTimeout } from '../../database/sql.js';

/** A check failure with a message fit for a public body: never driver text, hosts or credentials. */
class CheckFailed extends Error {}

/** Resolves like the promise, or rejects with "timeout" after `ms`: a hung dependency cannot hold a probe. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CheckFailed(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof CheckFailed ? error : new CheckFailed('unreachable'));
      },
    );
  });
}

function failureMessage(error: unknown): string {
  return error instanceof CheckFailed ? error.message : 'unreachable';
}

/** What a feature's readiness check found. */
export interface ReadinessReport {
  /** Shown in the check's entry of the body. */
  details: Record<string, unknown>;
  /** Set when the check fails readiness: the entry's message, fit for a public body. */
  failure?: string;
}

/**
 * A feature's readiness check, given the time it has (HEALTH_TIMEOUT_MS). Past that time, or when
 * it throws, it is reported down with a message of the platform's, never the error's text.
 */
export type ReadinessCheck = (timeoutMs: number) => Promise<ReadinessReport>;

interface ContributedCheck {
  name: string;
  check: ReadinessCheck;
  readsDatabase: boolean;
}

/**
 * The checks of GET /health/ready, each bounded by HEALTH_TIMEOUT_MS and run side by side, so the
 * probe answers within about that time even when a dependency hangs. The database and Redis are
 * checked here; features add their own checks (addCheck), as mail does for its outbox.
 */
@Injectable()
export class ReadinessChecks implements OnModuleInit, OnApplicationShutdown {
  private redis?: Redis;
  private readonly contributed: ContributedCheck[] = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly database: DatabaseConnection,
    private readonly indicators: HealthIndicatorService,
  ) {}

  onModuleInit(): void {
    const r = this.config.redis;
    if (!r) return;
    const timeout = this.config.health.timeoutMs;
    this.redis = createRedisClient(r, {
      connectionName: 'gatehouse-health',
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: timeout,
      commandTimeout: timeout,
      retryStrategy: (attempt: number) => Math.min(attempt * 250, 2000),
    });
    // Reported by the check; the other Redis clients already log the outage.
    this.redis.on('error', () => undefined);
    this.redis.connect().catch(() => undefined);
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }

  /**
   * Adds a feature's check under `name`, reported after the database's. One that reads the database
   * is reported down with the database's state, without running, until the database is ready.
   */
  addCheck(name: string, check: ReadinessCheck, options: { readsDatabase?: boolean } = {}): void {
    if (name === 'database' || name === 'redis' || this.contributed.some((c) => c.name === name)) {
      throw new Error(`a readiness check named ${name} exists already`);
    }
    this.contributed.push({ name, check, readsDatabase: options.readsDatabase ?? false });
  }

  /** Every check, in the order of the body: the database, the features' checks, then Redis when REDIS_URL is set. */
  list(): Array<() => Promise<HealthIndicatorResult>> {
    const checks: Array<() => Promise<HealthIndicatorResult>> = [() => this.checkDatabase()];
    for (const contributed of this.contributed) checks.push(() => this.runContributed(contributed));
    if (this.config.redis !== undefined) checks.push(() => this.checkRedis());
    return checks;
  }

  /** Connected, migrated and started (see DatabaseConnection), and answering a query now. */
  async checkDatabase(): Promise<HealthIndicatorResult<'database'>> {
    const check = this.indicators.check('database');
    const started = Date.now();
    try {
      await within(this.query('SELECT 1'), this.config.health.timeoutMs);
      return check.up({ responseTime: Date.now() - started });
    } catch (error) {
      return check.down({ message: failureMessage(error) });
    }
  }

  /** PING on a connection of its own; present only when REDIS_URL is set. */
  async checkRedis(): Promise<HealthIndicatorResult<'redis'>> {
    const check = this.indicators.check('redis');
    const started = Date.now();
    try {
      const redis = this.redis;
      if (!redis || redis.status !== 'ready') throw new CheckFailed('not connected');
      await within(redis.ping(), this.config.health.timeoutMs);
      return check.up({ responseTime: Date.now() - started });
    } catch (error) {
      return check.down({ message: failureMessage(error) });
    }
  }

  private async runContributed({ name, check, readsDatabase }: ContributedCheck): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(name);
    const timeoutMs = this.config.health.timeoutMs;
    try {
      const unavailable = readsDatabase ? this.databaseUnavailable() : undefined;
      if (unavailable) throw new CheckFailed(unavailable);
      const report = await within(check(timeoutMs), timeoutMs);
      if (report.failure === undefined) return indicator.up(report.details);
      return indicator.down({ ...report.details, message: report.failure });
    } catch (error) {
      return indicator.down({ message: failureMessage(error) });
    }
  }

  /** Why the database cannot be queried now, in words fit for the body; undefined when it can. */
  private databaseUnavailable(): string | undefined {
    if (!this.database.ready) return this.database.state === 'connecting' ? 'not connected yet' : 'starting';
    if (!pgPool(this.dataSource)) return 'not connected';
    return undefined;
  }

  /** A query bounded client-side by HEALTH_TIMEOUT_MS (see queryWithTimeout). */
  private async query(text: string): Promise<unknown[]> {
    const unavailable = this.databaseUnavailable();
    if (unavailable) throw new CheckFailed(unavailable);
    return queryWithTimeout(this.dataSource, text, this.config.health.timeoutMs);
  }
}
