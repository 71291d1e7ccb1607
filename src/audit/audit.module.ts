import { Module } from '@nestjs/common';

import { AuditController } from './audit.controller.js';
import { AuditRepository, PgAuditRepository } from './audit.repository.js';
import { AuditService } from './audit.service.js';

@Module({ controllers: [AuditController], providers: [AuditService, { provide: AuditRepository, useClass: PgAuditRepository }] })
export class AuditModule {}
