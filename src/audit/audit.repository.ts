import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** One entry of the audit log, as admins read it. */
export interface AuditEntry {
  id: string;
  type: string;
  userId: string | null;
  sessionId: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  details: Record<string, unknown> | null;
  at: string;
}

/** An entry to write; the log gives it its id. */
export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/** A place in the log, newest first: the time to the microsecond, and the id among entries of that time. */
export interface AuditPosition {
  at: string;
  id: string;
}

/** The audit log: appended to, and read newest first. No method takes part in a caller's transaction. */
export abstract class AuditRepository {
  abstract append(entry: NewAuditEntry): Promise<void>;

  /**
   * Up to `limit` entries, newest first (by time, then id), matching the filters and older than
   * `after` when given; `next` is the position of the last one when more follow, else null.
   */
  abstract list(query: {
    userId?: string;
    type?: string;
    limit: number;
    after?: AuditPosition;
  }): Promise<{ items: AuditEntry[]; next: AuditPosition | null }>;
}

interface AuditRow {
  id: string;
  type: string;
  user_id: string | null;
  session_id: string | null;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown> | null;
  at: Date;
  at_exact: string;
}

@Injectable()
export class PgAuditRepository implements AuditRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async append(entry: NewAuditEntry): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO audit_log (type, user_id, session_id, actor_id, ip, user_agent, details, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        entry.type,
        entry.userId,
        entry.sessionId,
        entry.actorId,
        entry.ip,
        entry.userAgent,
        entry.details ? JSON.stringify(entry.details) : null,
        entry.at,
      ],
    );
  }

  async list(query: {
    userId?: string;
    type?: string;
    limit: number;
    after?: AuditPosition;
  }): Promise<{ items: AuditEntry[]; next: AuditPosition | null }> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (query.userId) where.push(`user_id = $${params.push(query.userId)}`);
    if (query.type) where.push(`type = $${params.push(query.type)}`);
    if (query.after) where.push(`(at, id) < ($${params.push(query.after.at)}::timestamptz, $${params.push(query.after.id)}::uuid)`);
    // The position keeps PostgreSQL's microseconds, which a JavaScript Date would round away.
    const rows: AuditRow[] = await this.dataSource.query(
      `SELECT id, type, user_id, session_id, actor_id, ip, user_agent, details, at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_exact
         FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY at DESC, id DESC LIMIT $${params.push(query.limit + 1)}`,
      params,
    );
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map((r) => ({
        id: r.id,
        type: r.type,
        userId: r.user_id,
        sessionId: r.session_id,
        actorId: r.actor_id,
        ip: r.ip,
        userAgent: r.user_agent,
        details: r.details,
        at: r.at.toISOString(),
      })),
      next: rows.length > query.limit && last ? { at: last.at_exact, id: last.id } : null,
    };
  }
}
