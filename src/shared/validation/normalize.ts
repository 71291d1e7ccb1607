import { isCommonPassword } from './common-passwords.js';

/** Canonical forms used for storage, uniqueness and look-up. */
export const normalizeEmail = (email: string): string => email.normalize('NFKC').trim().toLowerCase();
export const normalizeUsername = (username: string): string => username.normalize('NFKC').trim().toLowerCase();
/** Text shown to people (a display name): NFKC, trimmed; nothing left means none. */
export const normalizeDisplayName = (name: string): string | null => name.normalize('NFKC').trim() || null;
export const DISPLAY_NAME_MAX_LENGTH = 64;
export const normalizePassword = (password: string): string => password.normalize('NFKC');

export const USERNAME_PATTERN = /^[a-z0-9._-]{3,32}$/;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;
export const PASSWORD_MAX_BYTES = 1024;

export const COMMON_PASSWORD_MESSAGE = 'password is too common; choose a less guessable one';
export const SIMILAR_PASSWORD_MESSAGE = 'password is too similar to the email address or username';

/** Problems with a password under the contract's rules, checked before any hashing; empty when fine. */
export function passwordProblems(password: string): string[] {
  // The byte cap is checked first and on the raw input, so an oversized value is never normalised.
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return [`password must be at most ${PASSWORD_MAX_BYTES} bytes`];
  const normalized = normalizePassword(password);
  if (Buffer.byteLength(normalized, 'utf8') > PASSWORD_MAX_BYTES) return [`password must be at most ${PASSWORD_MAX_BYTES} bytes`];
  const length = [...normalized].length;
  if (length < PASSWORD_MIN_LENGTH) return [`password must be at least ${PASSWORD_MIN_LENGTH} characters`];
  if (length > PASSWORD_MAX_LENGTH) return [`password must be at most ${PASSWORD_MAX_LENGTH} characters`];
  if (isCommonPassword(normalized)) return [COMMON_PASSWORD_MESSAGE];
  return [];
}

/**
 * Whether a password is built on the account's own identifiers (the email's local part, the
 * username), which the first guesses of an attacker try.
 */
export function isSimilarToIdentity(password: string, identity: { email?: string | null; username?: string | null }): boolean {
  const p = normalizePassword(password).toLowerCase();
  const letters = (s: string): string => s.replace(/[^\p{L}\p{N}]/gu, '');
  const candidates = [identity.email?.split('@')[0], identity.username]
    .filter((s): s is string => !!s)
    .map((s) => letters(s.toLowerCase()));
  const core = letters(p);
  return candidates.some((c) => c.length >= 4 && (core.includes(c) || (core.length >= 4 && c.includes(core))));
}
