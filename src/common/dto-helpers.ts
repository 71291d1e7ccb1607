import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIP, IsOptional, IsString, MaxLength, registerDecorator, ValidateNested, ValidationOptions } from 'class-validator';
import { PASSWORD_MAX_BYTES, passwordProblems } from '../users/normalize.js';

/** Applies a string normaliser before validation; other types pass through to fail validation. */
export const NormalizeString = (fn: (value: string) => string): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? fn(value) : value));

/** A new password under the contract's rules (length in code points after NFKC, byte cap). */
export function IsNewPassword(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isNewPassword',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && passwordProblems(value).length === 0,
        defaultMessage: (args) => (typeof args?.value === 'string' ? passwordProblems(args.value)[0] : undefined) ?? 'password must be a string',
      },
    });
}

/** A password presented to be checked: any non-empty string within the byte cap (never hashed otherwise). */
export function IsPasswordInput(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isPasswordInput',
      target: target.constructor,
      propertyName: String(propertyName),
      options,
      validator: {
        validate: (value: unknown) => typeof value === 'string' && value.length > 0 && Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES,
        defaultMessage: (args) => (typeof args?.value === 'string' && args.value.length > 0
          ? `password must be at most ${PASSWORD_MAX_BYTES} bytes`
          : 'password must be a non-empty string'),
      },
    });
}

/** Where an RPC caller's end user connects from; recorded on the session. */
export class ConnectionDto {
  @ApiPropertyOptional({ example: '203.0.113.7', description: 'The end user\'s IP address.' })
  @IsOptional() @IsIP(undefined, { message: 'ip must be an IP address' })
  ip?: string;

  @ApiPropertyOptional({ maxLength: 512 })
  @IsOptional() @IsString() @MaxLength(512)
  userAgent?: string;
}

/** For RPC payloads: an optional `connection` object. */
export const ConnectionField = (): PropertyDecorator => (target, key) => {
  ApiPropertyOptional({ type: () => ConnectionDto, description: 'Where the end user connects from; recorded on the session.' })(target, key);
  IsOptional()(target, key);
  ValidateNested()(target, key);
  Type(() => ConnectionDto)(target, key);
};
