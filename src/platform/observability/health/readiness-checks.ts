import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import { Redis } from 'ioredis';
import type { Pool, QueryConfig } from 'pg';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig, redisClientOptions } from '../../config/app-config.js';
import { DatabaseConnection } from '../../database/database-connection.js';

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

interface OutboxBacklog {
  pending: number;
  oldest_due: number;
}

/**
 * The checks of GET /health/ready, each bounded by HEALTH_TIMEOUT_MS and run side by side, so the
 * probe answers within about that time even when a dependency hangs.
 */
@Injectable()
export class ReadinessChecks implements OnModuleInit, OnApplicationShutdown {
  private redis?: Redis;

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
    this.redis = new Redis({
      ...redisClientOptions(r),
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

  get redisConfigured(): boolean {
    return this.config.redis !== undefined;
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

  /**
   * The mail not yet sent, and how long the oldest due mail has waited for a worker. SMTP trouble
   * does not raise that age (failed mail is rescheduled), workers that stopped taking mail do. It
   * fails readiness only above HEALTH_OUTBOX_MAX_DUE_AGE, when set.
   */
  async checkOutbox(): Promise<HealthIndicatorResult<'outbox'>> {
    const check = this.indicators.check('outbox');
    let backlog: OutboxBacklog | undefined;
    try {
      [backlog] = await within(
        this.query<OutboxBacklog>(
          `SELECT count(*)::int AS pending,
                  COALESCE(floor(EXTRACT(EPOCH FROM now() - min(CASE WHEN status = 'pending' THEN next_attempt_at ELSE locked_until END)
                    FILTER (WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now())))), 0)::int AS oldest_due
             FROM mail_outbox WHERE status IN ('pending', 'sending')`,
        ),
        this.config.health.timeoutMs,
      );
    } catch (error) {
      return check.down({ message: failureMessage(error) });
    }
    const details = { pending: backlog?.pending ?? 0, oldestDueSeconds: backlog?.oldest_due ?? 0 };
    const limit = this.config.health.outboxMaxDueAgeSeconds;
    if (limit > 0 && details.oldestDueSeconds > limit) {
      return check.down({ ...details, message: `due mail has waited ${details.oldestDueSeconds} s for a worker (limit ${limit} s)` });
    }
    return check.up(details);
  }

  /**
   * A query straight on TypeORM's pool, with a client-side timeout: a connection whose query times
   * out is thrown away, so probes against a hung server do not pile up on pooled connections.
   */
  private async query<T>(text: string): Promise<T[]> {
    if (!this.database.ready) throw new CheckFailed(this.database.state === 'connecting' ? 'not connected yet' : 'starting');
    const pool = (this.dataSource.driver as unknown as { master?: Pool }).master;
    if (!pool) throw new CheckFailed('not connected');
    // query_timeout is read by pg per query, though its typings only list it for the client.
    const query: QueryConfig & { query_timeout: number } = { text, query_timeout: this.config.health.timeoutMs };
    const result = await pool.query(query);
    return result.rows as T[];
  }
}
