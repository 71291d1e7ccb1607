import { ApiProperty } from '@nestjs/swagger';
import { IsUUID } from 'class-validator';

import { UUID_PROPERTY } from '../../platform/openapi/property-docs.js';

export class SessionsOfUserDto {
  @ApiProperty(UUID_PROPERTY)
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;
}

export class SessionIdDto {
  @ApiProperty(UUID_PROPERTY)
  @IsUUID('all', { message: 'sessionId must be a UUID' })
  sessionId: string;
}
