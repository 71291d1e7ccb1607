import type { ApiPropertyOptions } from '@nestjs/swagger';

import { PASSWORD_MAX_BYTES, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, USERNAME_PATTERN } from '../../shared/validation/normalize.js';

// Schema options shared by the request DTOs, beside their validators.

export const EMAIL_PROPERTY: ApiPropertyOptions = {
  type: String,
  format: 'email',
  maxLength: 254,
  example: 'ada@example.com',
  description: 'Trimmed, lower-cased and NFKC-normalised before use.',
};

export const USERNAME_PROPERTY: ApiPropertyOptions = {
  type: String,
  pattern: USERNAME_PATTERN.source,
  example: 'ada',
  description: '3-32 characters of a-z, 0-9, ".", "_" or "-"; case-insensitive.',
};

export const NEW_PASSWORD_PROPERTY: ApiPropertyOptions = {
  type: String,
  format: 'password',
  minLength: PASSWORD_MIN_LENGTH,
  maxLength: PASSWORD_MAX_LENGTH,
  example: 'correct horse battery staple',
  description:
    `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters (code points after NFKC) and at most ${PASSWORD_MAX_BYTES} bytes; ` +
    'no composition rules, but common passwords and ones built on the email or username are refused.',
};

export const PASSWORD_INPUT_PROPERTY: ApiPropertyOptions = {
  type: String,
  format: 'password',
  minLength: 1,
  example: 'correct horse battery staple',
  description: `The password to check, compared exactly; at most ${PASSWORD_MAX_BYTES} bytes.`,
};

export const ACCESS_TOKEN_PROPERTY: ApiPropertyOptions = {
  type: String,
  maxLength: 8192,
  description: "The caller's access token (a JWT), verified as a bearer header is over REST.",
};

export const UUID_PROPERTY: ApiPropertyOptions = { type: String, format: 'uuid' };
