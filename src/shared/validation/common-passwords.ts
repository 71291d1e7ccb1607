import type { dictionary } from '@zxcvbn-ts/language-common';

/**
 * The most common passwords (about 49,000, ranked, from zxcvbn-ts's maintained list), lower-cased.
 * Loaded once, on first use: the package holds several lists, megabytes of heap that an instance
 * which never checks a new password does not need.
 */
let common: Set<string> | undefined;

export function isCommonPassword(normalizedPassword: string): boolean {
  common ??= new Set(loadList().map((p) => p.toLowerCase()));
  return common.has(normalizedPassword.toLowerCase());
}

function loadList(): string[] {
  // A synchronous load, as validation is: the service is built as CommonJS.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const zxcvbn = require('@zxcvbn-ts/language-common') as { dictionary: typeof dictionary };
  return zxcvbn.dictionary['passwords-common'];
}
