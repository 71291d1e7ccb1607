#!/usr/bin/env node
// Writes the common-password list the service refuses as a plain file beside the compiled module
// that reads it: zxcvbn-ts's `passwords-common` (from the installed @zxcvbn-ts/language-common, so
// it follows the package's updates), lower-cased, without duplicates, sorted, one per line. The
// service then holds about 0.4 MB in one string instead of loading the package's lists. Run by
// `npm run build` after `nest build` (which empties dist).
//
//   node scripts/common-passwords.mjs          write dist/src/shared/validation/common-passwords.txt
//   node scripts/common-passwords.mjs <file>   write it elsewhere (used by the spec)
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = resolve(process.argv[2] ?? join(ROOT, 'dist/src/shared/validation/common-passwords.txt'));

/** @type {string[]} */
const list = createRequire(import.meta.url)('@zxcvbn-ts/language-common').dictionary['passwords-common'];
const entries = [...new Set(list.map((p) => p.toLowerCase()))].sort();
// One entry per line: an entry that is empty or holds a line break would not survive the format.
const bad = entries.find((p) => p === '' || /[\r\n]/.test(p));
if (bad !== undefined) throw new Error(`common-passwords: cannot store ${JSON.stringify(bad)} one per line`);

mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, entries.join('\n'));
