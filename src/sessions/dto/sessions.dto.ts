import { IsUUID } from 'class-validator';

export class SessionsOfUserDto {
  @IsUUID('all', { message: 'userId must be a UUID' })
  userId: string;
}

export class SessionIdDto {
  @IsUUID('all', { message: 'sessionId must be a UUID' })
  sessionId: string;
}
