import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { ANY_DOMAIN_EVENT, type DomainEvent } from '../events/events.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor } from '../shared/paging.js';
import { AuditEntry, AuditRepository } from './audit.repository.js';

/** Writes every domain event to the audit log, and reads it back for admins. */
@Injectable()
export class AuditService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Audit');
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly log: AuditRepository) {}

  @OnEvent(ANY_DOMAIN_EVENT)
  record(event: DomainEvent): void {
    const write = this.log
      .append({
        type: event.type,
        userId: event.userId,
        sessionId: event.sessionId ?? null,
        actorId: event.actorId ?? null,
        ip: event.ip ?? null,
        userAgent: event.userAgent?.slice(0, 512) ?? null,
        details: event.details ?? null,
        at: event.at,
      })
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

  async list(q: {
    userId?: string;
    type?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    const page = await this.log.list({
      userId: q.userId,
      type: q.type,
      limit: q.limit ?? DEFAULT_PAGE_SIZE,
      after: q.cursor ? decodeCursor(q.cursor) : undefined,
    });
    return { items: page.items, nextCursor: page.next ? encodeCursor(page.next.at, page.next.id) : null };
  }
}
