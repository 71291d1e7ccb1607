import { Injectable, OnModuleInit } from '@nestjs/common';
import { MetricsService } from '../platform/observability/metrics/metrics.service.js';
import { MailOutboxRepository } from './mail-outbox.repository.js';

/** The outbox backlog as operators see it: the `gatehouse_mail_outbox_pending` gauge of GET /metrics. */
@Injectable()
export class MailBacklogProbes implements OnModuleInit {
  constructor(
    private readonly outbox: MailOutboxRepository,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    this.metrics.addScrapedGauge({
      name: 'gatehouse_mail_outbox_pending',
      help: 'Outbox mails not yet sent (waiting, being sent, or waiting for a retry); absent when the database did not answer.',
      read: () => this.outbox.countPending(),
    });
  }
}
