/** Canonical forms used for storage, uniqueness and look-up. */
export const normalizeEmail = (email: string): string => email.normalize('NFKC').trim().toLowerCase();
export const normalizeUsername = (username: string): string => username.normalize('NFKC').trim().toLowerCase();
export const normalizePassword = (password: string): string => password.normalize('NFKC');

export const USERNAME_PATTERN = /^[a-z0-9._-]{3,32}$/;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
export const PASSWORD_MAX_BYTES = 1024;

/** Problems with a password under the contract's rules, checked before any hashing; empty when fine. */
export function passwordProblems(password: string): string[] {
  // The byte cap is checked first and on the raw input, so an oversized value is never normalised.
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return [`password must be at most ${PASSWORD_MAX_BYTES} bytes`];
  const normalized = normalizePassword(password);
  if (Buffer.byteLength(normalized, 'utf8') > PASSWORD_MAX_BYTES) return [`password must be at most ${PASSWORD_MAX_BYTES} bytes`];
  const length = [...normalized].length;
  if (length < PASSWORD_MIN_LENGTH) return [`password must be at least ${PASSWORD_MIN_LENGTH} characters`];
  if (length > PASSWORD_MAX_LENGTH) return [`password must be at most ${PASSWORD_MAX_LENGTH} characters`];
  return [];
}
