import { ApiProperty, ApiSchema } from '@nestjs/swagger';

import type { PublicUser } from '../user.mapper.js';

// Response shapes for the OpenAPI document; the handlers return plain objects of these shapes.

@ApiSchema({ name: 'User', description: 'The public user: never a password, hash or token.' })
export class UserResponse implements PublicUser {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'email', example: 'ada@example.com', description: 'Normalised: trimmed, lower-cased, NFKC.' })
  email: string;

  @ApiProperty({ type: String, nullable: true, example: 'ada', description: '3-32 of a-z 0-9 . _ -, or null.' })
  username: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    maxLength: 64,
    example: 'Ada Lovelace',
    description: 'Shown to people: NFKC-normalised and trimmed, up to 64 characters, or null.',
  })
  displayName: string | null;

  @ApiProperty({ description: 'A confirmed second factor: sign-ins answer `mfaRequired` until it is proven.' })
  mfaEnabled: boolean;

  @ApiProperty()
  emailVerified: boolean;

  @ApiProperty({ type: [String], example: ['user'] })
  roles: string[];

  @ApiProperty()
  deactivated: boolean;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
}

@ApiSchema({ name: 'UserEnvelope' })
export class UserEnvelope {
  @ApiProperty({ type: UserResponse })
  user: UserResponse;
}

@ApiSchema({ name: 'UserPage', description: 'Newest first; pass nextCursor as cursor for the next page.' })
export class UserPage {
  @ApiProperty({ type: [UserResponse] })
  items: UserResponse[];

  @ApiProperty({ type: String, nullable: true, description: 'Opaque; null on the last page.' })
  nextCursor: string | null;
}

@ApiSchema({ name: 'ImportSkipped' })
export class ImportSkipped {
  @ApiProperty({ format: 'email' })
  email: string;

  @ApiProperty({ example: 'EMAIL_TAKEN', description: 'Why this entry was not imported.' })
  code: string;
}

@ApiSchema({ name: 'ImportUsersResult' })
export class ImportUsersResult {
  @ApiProperty({ example: 2 })
  imported: number;

  @ApiProperty({ type: [ImportSkipped] })
  skipped: ImportSkipped[];
}
