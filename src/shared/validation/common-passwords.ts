import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { dictionary } from '@zxcvbn-ts/language-common';

/** Written by the build (scripts/common-passwords.mjs) beside this module. */
export const COMMON_PASSWORDS_FILE = join(__dirname, 'common-passwords.txt');

/**
 * The most common passwords (about 49,000, ranked, from zxcvbn-ts's maintained list), lower-cased,
 * sorted, one per line: one string of 0.4 MB, searched by bisection (a few microseconds). A Set
 * of them holds 3 MB of heap, and loading the package's lists for it added about 12 MiB of resident
 * memory that V8 keeps. Loaded on first use.
 */
let common: string | undefined;

export function isCommonPassword(normalizedPassword: string): boolean {
  common ??= loadCommonPasswords();
  return hasLine(common, normalizedPassword.toLowerCase());
}

/**
 * The list as the build wrote it; where there is no such file (the sources, as the tests run them,
 * or a build that did not write it), the same text made from the package.
 */
export function loadCommonPasswords(file = COMMON_PASSWORDS_FILE): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return [...new Set(packageList().map((p) => p.toLowerCase()))].sort().join('\n');
  }
}

/** Whether `key` is a whole line of `sorted`, whose lines are in ascending order (as `<` compares). */
function hasLine(sorted: string, key: string): boolean {
  // lo is always the start of a line; hi the start of a line or the end.
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const start = sorted.lastIndexOf('\n', mid - 1) + 1;
    const newline = sorted.indexOf('\n', start);
    const end = newline === -1 ? sorted.length : newline;
    const line = sorted.slice(start, end);
    if (line === key) return true;
    if (line < key) lo = end + 1;
    else hi = start;
  }
  return false;
}

function packageList(): string[] {
  // A synchronous load, as validation is: the service is built as CommonJS.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const zxcvbn = require('@zxcvbn-ts/language-common') as { dictionary: typeof dictionary };
  return zxcvbn.dictionary['passwords-common'];
}
