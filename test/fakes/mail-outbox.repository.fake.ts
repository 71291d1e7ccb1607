import { randomUUID } from 'node:crypto';

import type { ClaimedMail, MailBacklog, MailOutboxRepository, MailToQueue } from '../../src/mail/mail-outbox.repository';
import type { MailKind } from '../../src/mail/templates';
import type { Tx } from '../../src/platform/database/transactions';

interface Row {
  id: string;
  kind: MailKind;
  recipient: string;
  subject: string;
  text: string | null;
  html: string | null;
  status: 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lockedUntil: number | null;
  createdAt: number;
}

/**
 * Every call at a later instant than the one before, as PostgreSQL's statements each run in a
 * transaction of their own: a claim of no time has run out by the next call.
 */
function ticking(): () => number {
  let last = 0;
  return () => (last = Math.max(Date.now(), last + 1));
}

/**
 * The outbox in an array, on a clock the spec may move. Transactions are not modelled: a mail is
 * queued at once, and the lock of lockAndCountRecent is not needed in one thread.
 */
export class InMemoryMailOutboxRepository implements MailOutboxRepository {
  private readonly rows: Row[] = [];

  constructor(private readonly now: () => number = ticking()) {}

  lockAndCountRecent(_tx: Tx, query: { kind: MailKind; recipient: string; withinSeconds: number }): Promise<number> {
    const since = this.now() - query.withinSeconds * 1000;
    return Promise.resolve(this.rows.filter((r) => r.recipient === query.recipient && r.kind === query.kind && r.createdAt > since).length);
  }

  enqueue(_tx: Tx, mail: MailToQueue): Promise<void> {
    const now = this.now();
    this.rows.push({
      id: randomUUID(),
      kind: mail.kind,
      recipient: mail.recipient,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      lockedUntil: null,
      createdAt: now,
    });
    return Promise.resolve();
  }

  claimDue(query: { limit: number; leaseSeconds: number }): Promise<ClaimedMail[]> {
    const now = this.now();
    const due = this.rows
      .filter(
        (r) =>
          (r.status === 'pending' && r.nextAttemptAt <= now) || (r.status === 'sending' && r.lockedUntil !== null && r.lockedUntil < now),
      )
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
      .slice(0, query.limit);
    return Promise.resolve(
      due.map((r) => {
        Object.assign(r, { status: 'sending', attempts: r.attempts + 1, lockedUntil: now + query.leaseSeconds * 1000 });
        return { id: r.id, recipient: r.recipient, subject: r.subject, text: r.text ?? '', html: r.html ?? '', attempts: r.attempts };
      }),
    );
  }

  markSent(id: string): Promise<void> {
    this.update(id, { status: 'sent', lockedUntil: null, text: null, html: null });
    return Promise.resolve();
  }

  reschedule(id: string, retry: { delayMs: number; error: string }): Promise<void> {
    this.update(id, { status: 'pending', lockedUntil: null, nextAttemptAt: this.now() + retry.delayMs });
    return Promise.resolve();
  }

  markFailed(id: string): Promise<void> {
    this.update(id, { status: 'failed', lockedUntil: null, text: null, html: null });
    return Promise.resolve();
  }

  countPending(): Promise<number> {
    return Promise.resolve(this.unsent().length);
  }

  backlog(): Promise<MailBacklog> {
    const now = this.now();
    const unsent = this.unsent();
    const dueSince = unsent
      .map((r) =>
        r.status === 'pending'
          ? r.nextAttemptAt <= now
            ? r.nextAttemptAt
            : null
          : r.lockedUntil !== null && r.lockedUntil < now
            ? r.lockedUntil
            : null,
      )
      .filter((at): at is number => at !== null);
    const oldestDueSeconds = dueSince.length ? Math.floor((now - Math.min(...dueSince)) / 1000) : null;
    return Promise.resolve({ pending: unsent.length, oldestDueSeconds });
  }

  private unsent(): Row[] {
    return this.rows.filter((r) => r.status === 'pending' || r.status === 'sending');
  }

  private update(id: string, change: Partial<Row>): void {
    const row = this.rows.find((r) => r.id === id);
    if (row) Object.assign(row, change);
  }
}
