import { validationFailed } from '../shared/errors/app-error.js';
import { isSimilarToIdentity, SIMILAR_PASSWORD_MESSAGE } from '../shared/validation/normalize.js';

/**
 * The part of the password rules that needs the account (the DTO checks the rest): refuses a
 * password built on the email's local part or the username, as a validation error on `field`.
 */
export function assertNotSimilarToIdentity(
  password: string,
  identity: { email?: string | null; username?: string | null },
  field = 'password',
): void {
  if (isSimilarToIdentity(password, identity)) {
    throw validationFailed('validation failed', [{ field, messages: [SIMILAR_PASSWORD_MESSAGE] }]);
  }
}
