import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dictionary } from '@zxcvbn-ts/language-common';

import { isCommonPassword, loadCommonPasswords } from './common-passwords';

const packageList = dictionary['passwords-common'];
// What the service refused before the compact list: the package's list lower-cased, in a Set.
const listed = new Set(packageList.map((p) => p.toLowerCase()));

describe('the compact common-password list', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'common-passwords-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("holds exactly the package's entries, lower-cased, once each and sorted, as the build writes it", () => {
    const file = join(dir, 'common-passwords.txt');
    execFileSync(process.execPath, [join(__dirname, '../../../scripts/common-passwords.mjs'), file]);
    const text = loadCommonPasswords(file);
    const lines = text.split('\n');

    expect(packageList.length).toBeGreaterThan(40_000);
    expect(lines).toHaveLength(listed.size);
    expect(new Set(lines)).toEqual(listed);
    expect(lines).toEqual([...lines].sort());
    // Without the build's file, the list is made from the package: the same text.
    expect(loadCommonPasswords(join(dir, 'missing.txt'))).toBe(text);
  });

  it('refuses every entry in any case, and what is not listed never', () => {
    const entries = packageList.flatMap((p) => [p, p.toUpperCase()]);
    expect(entries.filter((p) => !isCommonPassword(p))).toEqual([]);
    // Neighbours of every entry in the sorted order: a prefix, an extension, a changed last character.
    const others = packageList.flatMap((p) => [p.slice(0, -1), `${p}0`, `${p}~`, `${p.slice(0, -1)}${p.endsWith('a') ? 'b' : 'a'}`]);
    others.push('', '\n', 'glacier-teapot-71', '\u{1F600}'.repeat(8), '\uFFFF', ' ');
    expect(others.filter((p) => isCommonPassword(p) !== listed.has(p.toLowerCase()))).toEqual([]);
  });
});
