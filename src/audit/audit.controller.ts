import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';

import { EVENT_TYPES } from '../events/events.js';
import { ApiAdmin, ApiErrors } from '../platform/openapi/api-errors.js';
import { Roles } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { PageQueryDto } from '../shared/paging.js';
import type { AuditEntry } from './audit.repository.js';
import { AuditService } from './audit.service.js';
import { AuditPage } from './dto/audit.response.js';

export class AuditQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only events about this user.' })
  @IsOptional()
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @ApiPropertyOptional({ enum: EVENT_TYPES, description: 'Only events of this type.' })
  @IsOptional()
  @IsIn(EVENT_TYPES, { message: `type must be one of ${EVENT_TYPES.join(', ')}` })
  type?: string;
}

@ApiTags('audit (admin)')
@Roles('admin')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @ApiOperation({
    summary: 'The audit log, newest first',
    description: 'Every domain event (see the document description) is written here.',
  })
  @ApiOkResponse({ type: AuditPage })
  @ApiAdmin()
  @ApiErrors(
    { code: ErrorCode.VALIDATION_FAILED, when: 'a query parameter is invalid (limit out of 1-100, malformed cursor, unknown type)' },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Get()
  list(@Query() query: AuditQueryDto): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    return this.audit.list(query);
  }
}
