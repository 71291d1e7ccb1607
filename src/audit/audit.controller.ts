import { Controller, Get, Query } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import { Roles } from '../auth/decorators.js';
import { EVENT_TYPES } from '../common/events.js';
import { AuditEntry, AuditService } from './audit.service.js';

export class AuditQueryDto {
  @IsOptional() @IsUUID('all', { message: 'userId must be a UUID' })
  userId?: string;

  @IsOptional() @IsIn(EVENT_TYPES, { message: `type must be one of ${EVENT_TYPES.join(', ')}` })
  type?: string;

  @IsOptional() @Type(() => Number) @IsInt({ message: 'limit must be a whole number from 1 to 100' }) @Min(1) @Max(100)
  limit?: number;

  @IsOptional() @IsString() @MaxLength(200)
  cursor?: string;
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
