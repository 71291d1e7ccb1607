import type { Pool, QueryConfig } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

/**
 * Runs an UPDATE … RETURNING and gives its rows. (TypeORM answers such a statement on PostgreSQL
 * with `[rows, affectedCount]`, unlike a SELECT, which gives the rows.)
 */
export async function updateReturning<T>(em: Pick<EntityManager, 'query'>, sql: string, params: unknown[]): Promise<T[]> {
  const result: unknown = await em.query(sql, params);
  return Array.isArray(result) && Array.isArray(result[0]) ? (result[0] as T[]) : (result as T[]);
}

/** The pg pool under TypeORM's postgres driver, once it has one. */
export function pgPool(dataSource: DataSource): Pool | undefined {
  return (dataSource.driver as unknown as { master?: Pool }).master;
}

/**
 * A query straight on TypeORM's pool, given up client-side after `timeoutMs`: pg throws away a
 * connection whose query timed out, so probes against a hung server do not pile up on the pool.
 */
export async function queryWithTimeout<T>(dataSource: DataSource, text: string, timeoutMs: number): Promise<T[]> {
  const pool = pgPool(dataSource);
  if (!pool) throw new Error('the database is not connected');
  // query_timeout is read by pg per query, though its typings only list it for the client.
  const query: QueryConfig & { query_timeout: number } = { text, query_timeout: timeoutMs };
  const result = await pool.query(query);
  return result.rows as T[];
}

/**
 * A named statement straight on TypeORM's pool: PostgreSQL parses and plans it once per connection
 * instead of at every call, which halves its CPU for a statement of several CTEs. For hot paths. List
 * the result's columns rather than `*`: a column added by a migration to a running service would
 * otherwise change a prepared statement's result type, which PostgreSQL refuses.
 */
export async function preparedQuery<T>(dataSource: DataSource, name: string, text: string, values: unknown[]): Promise<T[]> {
  const pool = pgPool(dataSource);
  // Not connected (yet): TypeORM's own query fails as every other query does.
  if (!pool) return dataSource.query(text, values);
  const result = await pool.query({ name, text, values });
  return result.rows as T[];
}
