import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { ClaimedMail, MailOutboxRepository } from './mail-outbox.repository.js';
import { MAIL_QUEUED } from './mail-outbox.service.js';
import { MailTransport } from './mail-transport.service.js';

const BATCH = 10;
const MAX_BACKOFF_MS = 3_600_000;
/** How long a claim lasts: a crashed worker's mail is picked up again after it. */
const CLAIM_SECONDS = 120;

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
    private readonly mails: MailOutboxRepository,
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
    const rows = await this.mails.claimDue({ limit: BATCH, leaseSeconds: CLAIM_SECONDS });
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
      await this.transport.send({ id: row.id, to: row.recipient, subject: row.subject, text: row.text, html: row.html });
    } catch (error) {
      await this.recordFailure(row, error as Error);
      return;
    }
    this.metrics.mailDelivered();
    await this.mails.markSent(row.id);
  }

  private async recordFailure(row: ClaimedMail, error: Error): Promise<void> {
    const { maxAttempts, retryBaseMs } = this.config.mail;
    const message = error.message.slice(0, 500);
    this.metrics.mailSendFailed(row.attempts >= maxAttempts);
    if (row.attempts >= maxAttempts) {
      this.logger.error(`mail ${row.id} to ${row.recipient} failed for good after ${row.attempts} attempts: ${message}`);
      // The body holds a live token: it goes, as it does once sent.
      await this.mails.markFailed(row.id, message);
      return;
    }
    const delay = Math.min(retryBaseMs * 2 ** (row.attempts - 1), MAX_BACKOFF_MS);
    this.logger.warn(`mail ${row.id} not sent (attempt ${row.attempts}), retrying in ${delay} ms: ${message}`);
    await this.mails.reschedule(row.id, { delayMs: delay, error: message });
  }

  /** Stops taking new mail and waits for the batch being sent, before the database pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }
}
