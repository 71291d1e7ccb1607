import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  isEmail,
  IsIP,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  registerDecorator,
  ValidateIf,
  ValidateNested,
  ValidationOptions,
} from 'class-validator';

import { PASSWORD_MAX_BYTES, passwordProblems } from './normalize.js';

/**
 * Beyond this many UTF-16 units a value is not normalised: every field normalised here (emails,
 * usernames) is refused far below it whatever NFKC makes of it (a composition joins at most 4
 * units into 1), and NFKC of a body-sized string is main-thread time its sender chooses (a 60 KB
 * email of U+FDFA expands to 360,000 characters: 10 to 15 ms per request).
 */
export const NORMALIZE_MAX_LENGTH = 1024;

/**
 * Applies a string normaliser before validation; other types, and strings over NORMALIZE_MAX_LENGTH
 * (left as they are for the length check to refuse), pass through to fail validation.
 */
export const NormalizeString = (fn: (value: string) => string): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' && value.length <= NORMALIZE_MAX_LENGTH ? fn(value) : value));

/**
 * Optional meaning "may be left out": unlike IsOptional, `null` is validated like any other value
 * (and refused where a string is due), for fields whose services are not typed for null (a null
 * refreshToken reached the hashing). IsOptional stays where null means "unknown" (`connection`).
 */
/** IsOmittable's condition: the field's rules apply whenever a value was sent. */
export const isSent = (_object: unknown, value: unknown): boolean => value !== undefined;
export const IsOmittable = (): PropertyDecorator => ValidateIf(isSent);

/** A string without C0 or C1 control characters (NUL, CR, LF, ESC, DEL…): never stored, logged or put in a mail header. */
export const HasNoControlCharacters = (field: string): PropertyDecorator =>
  Matches(/^\P{Cc}*$/u, { message: `${field} must not contain control characters` });

// Quoted local parts, backslashes and whitespace are RFC 5321 corner cases that only ever carry
// header injection (CR/LF) or look-alikes, as do control and invisible format characters (U+202E…).
const EMAIL_REFUSED = /["\\\s\p{Cc}\p{Cf}]/u;

export const EMAIL_MESSAGE = 'email must be a valid email address';

/** An ordinary email address (checked after normalisation): no quoted local part, nothing invisible. */
export function IsEmailAddress(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isEmailAddress',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: EMAIL_MESSAGE, ...options },
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' && !EMAIL_REFUSED.test(value) && isEmail(value, { allow_display_name: false, allow_ip_domain: false }),
      },
    });
}

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
        defaultMessage: (args) =>
          (typeof args?.value === 'string' ? passwordProblems(args.value)[0] : undefined) ?? 'password must be a string',
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
        validate: (value: unknown) =>
          typeof value === 'string' && value.length > 0 && Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES,
        defaultMessage: (args) =>
          typeof args?.value === 'string' && args.value.length > 0
            ? `password must be at most ${PASSWORD_MAX_BYTES} bytes`
            : 'password must be a non-empty string',
      },
    });
}

/** Where an RPC caller's end user connects from; recorded on the session. */
export class ConnectionDto {
  @ApiPropertyOptional({ example: '203.0.113.7', description: "The end user's IP address." })
  @IsOptional()
  @IsIP(undefined, { message: 'ip must be an IP address' })
  ip?: string;

  @ApiPropertyOptional({ maxLength: 512, description: "The end user's User-Agent; control characters are refused." })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @HasNoControlCharacters('userAgent')
  userAgent?: string;
}

/** For RPC payloads: an optional `connection` object. */
export const ConnectionField = (): PropertyDecorator => (target, key) => {
  ApiPropertyOptional({ type: () => ConnectionDto, description: 'Where the end user connects from; recorded on the session.' })(
    target,
    key,
  );
  IsOptional()(target, key);
  ValidateNested()(target, key);
  Type(() => ConnectionDto)(target, key);
};
