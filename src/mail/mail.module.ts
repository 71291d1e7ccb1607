import { Module } from '@nestjs/common';
import { MailBacklogProbes } from './mail-backlog-probes.js';
import { MailOutboxRepository, PgMailOutboxRepository } from './mail-outbox.repository.js';
import { MailOutbox } from './mail-outbox.service.js';
import { MailTransport } from './mail-transport.service.js';
import { OutboxWorker } from './outbox-worker.service.js';

@Module({
  providers: [MailOutbox, MailTransport, OutboxWorker, MailBacklogProbes, { provide: MailOutboxRepository, useClass: PgMailOutboxRepository }],
  exports: [MailOutbox],
})
export class MailModule {}
