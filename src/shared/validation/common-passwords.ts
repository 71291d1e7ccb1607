import { dictionary } from '@zxcvbn-ts/language-common';

/**
 * The most common passwords (about 49,000, ranked, from zxcvbn-ts's maintained list), lower-cased.
 * Loaded once, on first use.
 */
let common: Set<string> | undefined;

export function isCommonPassword(normalizedPassword: string): boolean {
  common ??= new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));
  return common.has(normalizedPassword.toLowerCase());
}
