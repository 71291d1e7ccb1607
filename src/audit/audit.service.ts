import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor } from '../shared/paging.js';
import { ANY_DOMAIN_EVENT, type DomainEvent } from '../events/events.js';

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
}

/** Writes every domain event to the audit log, and reads it back for admins. */
@Injectable()
export class AuditService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private readonly pending = new Set<Promise<void>>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  @OnEvent(ANY_DOMAIN_EVENT)
  record(event: DomainEvent): void {
    const write = this.dataSource
      .query(
        `INSERT INTO audit_log (type, user_id, session_id, actor_id, ip, user_agent, details, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [event.type, event.userId, event.sessionId ?? null, event.actorId ?? null, event.ip ?? null, event.userAgent?.slice(0, 512) ?? null,
          event.details ? JSON.stringify(event.details) : null, event.at],
      )
      .then(
        () => undefined,
        (error: Error) => this.logger.error(`audit entry for ${event.type} not written: ${error.message}`),
      );
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  /** Entries recorded so far are written before the database pool closes. */
  beforeApplicationShutdown(): Promise<void> {
    return this.flushed();
  }

  /** Resolves when every entry recorded so far is written (tests, shutdown). */
  async flushed(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  async list(q: { userId?: string; type?: string; limit?: number; cursor?: string }): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    const params: unknown[] = [];
    const where: string[] = [];
    if (q.userId) where.push(`user_id = $${params.push(q.userId)}`);
    if (q.type) where.push(`type = $${params.push(q.type)}`);
    if (q.cursor) {
      const { at, id } = decodeCursor(q.cursor);
      where.push(`(at, id) < ($${params.push(at)}::timestamptz, $${params.push(id)}::uuid)`);
    }
    const rows: AuditRow[] = await this.dataSource.query(
      `SELECT id, type, user_id, session_id, actor_id, ip, user_agent, details, at, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_exact
         FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY at DESC, id DESC LIMIT $${params.push(limit + 1)}`,
      params,
    );
    const items = rows.slice(0, limit);
    const last = items[items.length - 1] as (AuditRow & { at_exact: string }) | undefined;
    return {
      items: items.map((r) => ({
        id: r.id, type: r.type, userId: r.user_id, sessionId: r.session_id, actorId: r.actor_id, ip: r.ip, userAgent: r.user_agent, details: r.details, at: r.at.toISOString(),
      })),
      nextCursor: rows.length > limit && last ? encodeCursor(last.at_exact, last.id) : null,
    };
  }
}
