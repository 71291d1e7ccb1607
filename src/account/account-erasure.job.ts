import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { DomainEvents } from '../events/domain-events.service.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { Transactions } from '../platform/database/transactions.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { AccountDataRepository } from './account-data.repository.js';

/** Accounts erased per transaction. */
const BATCH = 10;
/** How often each instance looks for accounts whose grace period is over. */
const EVERY_MS = 60_000;
/** Sooner while a due account waits for its deletion notice to be sent. */
const WAITING_MS = 1_000;

/**
 * Erases accounts whose deletion grace period is over (see AccountDataRepository.erase). Every
 * instance runs it; accounts are claimed with FOR UPDATE SKIP LOCKED, so none is erased twice and
 * instances share the work. An account whose address still has mail waiting (the deletion notice)
 * is left until that mail is sent or given up.
 */
@Injectable()
export class AccountErasureJob implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AccountErasure');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private stopped = false;

  constructor(
    private readonly data: AccountDataRepository,
    private readonly transactions: Transactions,
    private readonly database: DatabaseConnection,
    private readonly events: DomainEvents,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.database.whenConnected('starting the account erasure job', () => this.schedule(0));
  }

  /** Runs soon (a deletion with no grace period). */
  wake(): void {
    this.schedule(0);
  }

  /** Erases every account that is due now; how many were erased. One run at a time per instance. */
  runOnce(): Promise<number> {
    this.running ??= this.eraseDue().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    let next = EVERY_MS;
    try {
      await this.runOnce();
      if (await this.data.anyDueWaiting()) next = WAITING_MS;
    } catch (error) {
      this.logger.warn(`account erasure failed: ${(error as Error).message}`);
    }
    this.schedule(next);
  }

  private async eraseDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const erased = await this.transactions.run(async (tx) => {
        const due = await this.data.claimDue(BATCH, tx);
        for (const account of due) await this.data.erase(account, tx);
        return due.map((a) => a.id);
      });
      for (const userId of erased) this.events.publish('user.deleted', { userId });
      if (erased.length > 0) this.metrics.accountsErased(erased.length);
      total += erased.length;
      if (erased.length < BATCH) return total;
    }
  }
}
