import type { EntityManager } from 'typeorm';

/**
 * Runs an UPDATE … RETURNING and gives its rows. (TypeORM answers such a statement on PostgreSQL
 * with `[rows, affectedCount]`, unlike a SELECT, which gives the rows.)
 */
export async function updateReturning<T>(em: Pick<EntityManager, 'query'>, sql: string, params: unknown[]): Promise<T[]> {
  const result: unknown = await em.query(sql, params);
  return Array.isArray(result) && Array.isArray(result[0]) ? (result[0] as T[]) : (result as T[]);
}
