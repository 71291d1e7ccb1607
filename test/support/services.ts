import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';

/** The PostgreSQL server the integration and e2e tests use: the machine's, unless overridden. */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

export function databaseUrlFor(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A database of a suite's own, for suites that count mail: an outbox worker sends every due mail of
 * its database, so on the run's shared one, other suites' leftover mail would reach their sink.
 */
export async function ownDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gatehouse_${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  return { url: databaseUrlFor(name), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `The integration and e2e tests need a real PostgreSQL, and none answered at ${redact(ADMIN_DATABASE_URL)} ` +
        `(${(error as Error).message}). Start PostgreSQL or set TEST_DATABASE_ADMIN_URL.`,
      { cause: error },
    );
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function assertRedisReachable(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `The e2e tests need a real Redis, and none answered at ${redact(TEST_REDIS_URL)} ` +
        `(${(error as Error).message}). Start Redis or set TEST_REDIS_URL.`,
      { cause: error },
    );
  } finally {
    redis.disconnect();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
}
