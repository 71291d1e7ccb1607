import { Module } from '@nestjs/common';

import { HealthModule } from '../platform/observability/health/health.module.js';
import { MailBacklogProbes } from './mail-backlog-probes.js';
import { MailOutboxRepository, PgMailOutboxRepository } from './mail-outbox.repository.js';
import { MailOutbox } from './mail-outbox.service.js';
import { MailTransport } from './mail-transport.service.js';
import { OutboxWorker } from './outbox-worker.service.js';

@Module({
  imports: [HealthModule],
  providers: [
    MailOutbox,
    MailTransport,
    OutboxWorker,
    MailBacklogProbes,
    { provide: MailOutboxRepository, useClass: PgMailOutboxRepository },
  ],
  exports: [MailOutbox],
})
export class MailModule {}
