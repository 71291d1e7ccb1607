import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import { UserResponse } from '../../users/dto/user.response.js';

// Response shapes for the OpenAPI document; the handlers return plain objects of these shapes.

@ApiSchema({ name: 'ExportedSession', description: 'A session as stored: live or ended.' })
export class ExportedSessionResponse {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  lastUsedAt: string;

  @ApiProperty({ format: 'date-time' })
  expiresAt: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revokedAt: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'logout' })
  revokeReason: string | null;

  @ApiProperty({ type: String, nullable: true })
  ip: string | null;

  @ApiProperty({ type: String, nullable: true })
  userAgent: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The admin who opened it by impersonation.' })
  impersonatorId: string | null;
}

@ApiSchema({ name: 'ExportedAuditEntry' })
export class ExportedAuditEntryResponse {
  @ApiProperty({ example: 'user.logged_in' })
  type: string;

  @ApiProperty({ format: 'date-time' })
  at: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  sessionId: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  actorId: string | null;

  @ApiProperty({ type: String, nullable: true })
  ip: string | null;

  @ApiProperty({ type: String, nullable: true })
  userAgent: string | null;

  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  details: Record<string, unknown> | null;
}

@ApiSchema({ name: 'ExportedTotpStatus' })
export class ExportedTotpStatus {
  @ApiProperty()
  enabled: boolean;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  confirmedAt: string | null;
}

@ApiSchema({ name: 'ExportedSecondFactors', description: 'Status only: never a secret, a code or a hash.' })
export class ExportedSecondFactors {
  @ApiProperty({ type: ExportedTotpStatus })
  totp: ExportedTotpStatus;

  @ApiProperty({ example: 10 })
  recoveryCodesLeft: number;
}

@ApiSchema({
  name: 'AccountExport',
  description: 'Everything held about the caller (GDPR art. 20): never a password hash, a token, a secret or a code.',
})
export class AccountExportResponse {
  @ApiProperty({ format: 'date-time' })
  generatedAt: string;

  @ApiProperty({ type: UserResponse })
  user: UserResponse;

  @ApiProperty({ type: [ExportedSessionResponse], description: 'Every stored session, newest first.' })
  sessions: ExportedSessionResponse[];

  @ApiProperty({ type: [ExportedAuditEntryResponse], description: 'Audit entries about the user, newest first (at most 10,000).' })
  auditLog: ExportedAuditEntryResponse[];

  @ApiProperty({ type: ExportedSecondFactors })
  secondFactors: ExportedSecondFactors;
}

@ApiSchema({ name: 'DeletionScheduled' })
export class DeletionScheduled {
  @ApiProperty({ format: 'date-time', description: 'When the data will be erased (ACCOUNT_DELETION_GRACE after the request).' })
  eraseAfter: string;
}
