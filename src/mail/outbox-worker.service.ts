import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { updateReturning } from '../platform/database/sql.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { MAIL_QUEUED } from './mail-outbox.service.js';
import { MailTransport } from './mail-transport.service.js';

interface ClaimedMail {
  id: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  attempts: number;
}

const BATCH = 10;
const MAX_BACKOFF_MS = 3_600_000;

/**
 * Delivers the outbox. Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of workers (one
 * per instance) share the work and never take the same row; a claim expires after two minutes, so
 * a crashed worker's mail is picked up again. Failed sends are retried with exponential backoff up
 * to OUTBOX_MAX_ATTEMPTS. A sent mail keeps its row (for throttling and audit) but loses its body.
 * Delivery is at least once: a mail whose send succeeded but whose "sent" mark failed (or whose
 * instance died in between) is sent again when its claim expires, with the same Message-ID.
 */
@Injectable()
export class OutboxWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxWorker');
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private wakePending = false;
  private unavailable = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly transport: MailTransport,
    private readonly database: DatabaseConnection,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.running = true;
    // With the database unreachable at start, the loop starts once it is connected.
    await this.database.whenConnected('starting the outbox worker', () => {
      if (this.running) this.loop = this.run();
    });
  }

  @OnEvent(MAIL_QUEUED)
  onQueued(): void {
    this.wakePending = true;
    this.wake?.();
  }

  /** Claims and sends one batch; returns how many mails it handled. */
  async drainOnce(): Promise<number> {
    const rows = await updateReturning<ClaimedMail>(this.dataSource.manager,
      `UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, locked_until = now() + interval '2 minutes'
        WHERE id IN (
          SELECT id FROM mail_outbox
           WHERE (status = 'pending' AND next_attempt_at <= now()) OR (status = 'sending' AND locked_until < now())
           ORDER BY next_attempt_at
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
        RETURNING id, recipient, subject, text_body, html_body, attempts`,
      [BATCH],
    );
    await Promise.all(rows.map((row) => this.deliver(row)));
    return rows.length;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let handled = 0;
      try {
        handled = await this.drainOnce();
        if (this.unavailable) this.logger.log('outbox available again');
        this.unavailable = false;
      } catch (error) {
        // Once per outage, not on every poll.
        if (!this.unavailable) this.logger.warn(`outbox unavailable: ${(error as Error).message}`);
        this.unavailable = true;
      }
      if (handled === 0 && this.running) await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        // Cleared however the wait ends, so a later wake-up is never swallowed by a stale callback.
        this.wake = undefined;
        this.wakePending = false;
        resolve();
      };
      const timer = setTimeout(done, this.config.mail.pollMs);
      this.wake = done;
    });
  }

  private async deliver(row: ClaimedMail): Promise<void> {
    try {
      await this.transport.send({ id: row.id, to: row.recipient, subject: row.subject, text: row.text_body, html: row.html_body });
    } catch (error) {
      await this.recordFailure(row, error as Error);
      return;
    }
    this.metrics.mailDelivered();
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'sent', sent_at = now(), locked_until = NULL, text_body = NULL, html_body = NULL, last_error = NULL
        WHERE id = $1`,
      [row.id],
    );
  }

  private async recordFailure(row: ClaimedMail, error: Error): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.mail;
    const message = error.message.slice(0, 500);
    this.metrics.mailSendFailed(row.attempts >= maxAttempts);
    if (row.attempts >= maxAttempts) {
      this.logger.error(`mail ${row.id} to ${row.recipient} failed for good after ${row.attempts} attempts: ${message}`);
      // The body holds a live token: it goes, as it does once sent.
      await this.dataSource.query(
        `UPDATE mail_outbox SET status = 'failed', locked_until = NULL, text_body = NULL, html_body = NULL, last_error = $2 WHERE id = $1`,
        [row.id, message],
      );
      return;
    }
    const delay = Math.min(retryBaseMs * 2 ** (row.attempts - 1), MAX_BACKOFF_MS);
    this.logger.warn(`mail ${row.id} not sent (attempt ${row.attempts}), retrying in ${delay} ms: ${message}`);
    await this.dataSource.query(
      `UPDATE mail_outbox SET status = 'pending', locked_until = NULL, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), last_error = $3
        WHERE id = $1`,
      [row.id, delay, message],
    );
  }

  /** Stops taking new mail and waits for the batch being sent, before the database pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }
}
