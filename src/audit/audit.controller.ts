import { Controller, Get, Query } from '@nestjs/common';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { Roles } from '../auth/decorators.js';
import { EVENT_TYPES } from '../common/events.js';
import { PageQueryDto } from '../common/paging.js';
import { AuditEntry, AuditService } from './audit.service.js';

export class AuditQueryDto extends PageQueryDto {
  @IsOptional() @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @IsOptional() @IsIn(EVENT_TYPES, { message: `type must be one of ${EVENT_TYPES.join(', ')}` })
  type?: string;
}

@Roles('admin')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  list(@Query() query: AuditQueryDto): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    return this.audit.list(query);
  }
}
