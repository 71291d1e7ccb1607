import { randomUUID } from 'node:crypto';

import type { AuditEntry, AuditPosition, AuditRepository, NewAuditEntry } from '../../src/audit/audit.repository';

/** Newest first: later time, then the greater id (PostgreSQL orders UUIDs as their lower-case text). */
function newestFirst(a: { at: string; id: string }, b: { at: string; id: string }): number {
  return Date.parse(b.at) - Date.parse(a.at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The audit log in an array; passes the same contract as PostgreSQL's. */
export class InMemoryAuditRepository implements AuditRepository {
  private readonly entries: AuditEntry[] = [];

  append(entry: NewAuditEntry): Promise<void> {
    this.entries.push({
      ...entry,
      at: new Date(entry.at).toISOString(),
      details: entry.details ? structuredClone(entry.details) : null,
      id: randomUUID(),
    });
    return Promise.resolve();
  }

  list(query: {
    userId?: string;
    type?: string;
    limit: number;
    after?: AuditPosition;
  }): Promise<{ items: AuditEntry[]; next: AuditPosition | null }> {
    const { after } = query;
    const matching = this.entries
      .filter(
        (e) =>
          (!query.userId || e.userId === query.userId) && (!query.type || e.type === query.type) && (!after || newestFirst(after, e) < 0),
      )
      .sort(newestFirst);
    const items = matching.slice(0, query.limit).map((e) => ({ ...e }));
    const last = items[items.length - 1];
    return Promise.resolve({ items, next: matching.length > query.limit && last ? { at: last.at, id: last.id } : null });
  }
}
