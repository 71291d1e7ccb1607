import { Inject, Injectable, OnModuleInit } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { ReadinessChecks, type ReadinessReport } from '../platform/observability/health/readiness-checks.js';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { MailOutboxRepository } from './mail-outbox.repository.js';

/**
 * The outbox backlog as operators see it: the `outbox` check of GET /health/ready and the
 * `gatehouse_mail_outbox_pending` gauge of GET /metrics.
 */
@Injectable()
export class MailBacklogProbes implements OnModuleInit {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly outbox: MailOutboxRepository,
    private readonly readiness: ReadinessChecks,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.readiness.addCheck('outbox', (timeoutMs) => this.checkBacklog(timeoutMs), { readsDatabase: true });
    this.metrics.addScrapedGauge({
      name: 'gatehouse_mail_outbox_pending',
      help: 'Outbox mails not yet sent (waiting, being sent, or waiting for a retry); absent when the database did not answer.',
      read: () => this.outbox.countPending(),
    });
  }

  /**
   * The mail not yet sent, and how long the oldest due mail has waited for a worker. SMTP trouble
   * does not raise that age (failed mail is rescheduled), workers that stopped taking mail do. The
   * backlog is shared by every instance, so it fails readiness only above HEALTH_OUTBOX_MAX_DUE_AGE,
   * when set (decision 0022).
   */
  private async checkBacklog(timeoutMs: number): Promise<ReadinessReport> {
    const backlog = await this.outbox.backlog({ timeoutMs });
    const details = { pending: backlog.pending, oldestDueSeconds: backlog.oldestDueSeconds ?? 0 };
    const limit = this.config.health.outboxMaxDueAgeSeconds;
    if (limit > 0 && details.oldestDueSeconds > limit) {
      return { details, failure: `due mail has waited ${details.oldestDueSeconds} s for a worker (limit ${limit} s)` };
    }
    return { details };
  }
}
