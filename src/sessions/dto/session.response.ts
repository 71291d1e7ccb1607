import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import type { PublicSession } from '../sessions.service.js';

@ApiSchema({ name: 'Session', description: 'A live session of the caller (or, over RPC, of the user asked about).' })
export class SessionResponse implements PublicSession {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time', description: 'Last login or refresh.' })
  lastUsedAt: string;

  @ApiProperty({ format: 'date-time', description: 'Absolute: refreshing never extends it.' })
  expiresAt: string;

  @ApiProperty({ type: String, nullable: true, example: '203.0.113.7', description: 'The client address, plain (never ::ffff:-mapped).' })
  ip: string | null;

  @ApiProperty({ type: String, nullable: true })
  userAgent: string | null;

  @ApiProperty({ description: 'True for the session of the access token making the request.' })
  current: boolean;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The admin, for an impersonation session.' })
  impersonatorId: string | null;

  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: "For an impersonation session the caller (an admin) holds: the user it acts as. Null for the caller's own sessions.",
  })
  impersonatedUserId: string | null;
}

@ApiSchema({ name: 'Revoked' })
export class RevokedReply {
  @ApiProperty({ enum: [true] })
  revoked: true;
}
