import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import { EVENT_TYPES } from '../../events/events.js';
import type { AuditEntry } from '../audit.repository.js';

@ApiSchema({ name: 'AuditEntry', description: 'One domain event, as written to the audit log.' })
export class AuditEntryResponse implements AuditEntry {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: EVENT_TYPES })
  type: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The user concerned (for user.impersonated: the target).' })
  userId: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  sessionId: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'Who acted on the user, when not the user (an admin).' })
  actorId: string | null;

  @ApiProperty({ type: String, nullable: true })
  ip: string | null;

  @ApiProperty({ type: String, nullable: true })
  userAgent: string | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    example: { roles: ['user', 'admin'] },
    description:
      'What the type records beyond the columns: `roles` for user.roles_changed, `amr` (the factors proven) for user.logged_in, user.reauthenticated and user.mfa_challenged, `amr` and `transport` for user.logged_in_by_service, `remaining` for user.recovery_code_used, `method` for the second-factor events, `fields` for user.updated, `eraseAfter` for user.deletion_requested.',
  })
  details: Record<string, unknown> | null;

  @ApiProperty({ format: 'date-time' })
  at: string;
}

@ApiSchema({ name: 'AuditPage', description: 'Newest first; pass nextCursor as cursor for the next page.' })
export class AuditPage {
  @ApiProperty({ type: [AuditEntryResponse] })
  items: AuditEntryResponse[];

  @ApiProperty({ type: String, nullable: true, description: 'Opaque; null on the last page.' })
  nextCursor: string | null;
}
