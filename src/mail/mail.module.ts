import { Module } from '@nestjs/common';
import { MailOutbox } from './mail-outbox.service.js';
import { MailTransport } from './mail-transport.service.js';
import { OutboxWorker } from './outbox-worker.service.js';

@Module({
  providers: [MailOutbox, MailTransport, OutboxWorker],
  exports: [MailOutbox],
})
export class MailModule {}
