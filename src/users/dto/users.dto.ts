import { IsEmail, IsUUID, MaxLength } from 'class-validator';
import { NormalizeString } from '../../common/dto-helpers.js';
import { normalizeEmail } from '../normalize.js';

export class UserIdDto {
  @IsUUID('all', { message: 'id must be a UUID' })
  id: string;
}

export class UserEmailDto {
  @NormalizeString(normalizeEmail) @IsEmail({}, { message: 'email must be a valid email address' }) @MaxLength(254)
  email: string;
}
