import { normalizeEmail, normalizeUsername, passwordProblems } from './normalize';

describe('normalisation', () => {
  it('trims, NFKC-normalises and lower-cases emails', () => {
    expect(normalizeEmail('  Alice@EXAMPLE.com ')).toBe('alice@example.com');
    // Fullwidth letters fold to ASCII under NFKC.
    expect(normalizeEmail('ＡＬＩＣＥ@example.com')).toBe('alice@example.com');
  });

  it('lower-cases usernames', () => {
    expect(normalizeUsername('Bob.Smith')).toBe('bob.smith');
  });
});

describe('passwordProblems', () => {
  it.each([
    ['12345678', []],
    ['short', ['password must be at least 8 characters']],
    ['x'.repeat(256), []],
    ['x'.repeat(257), ['password must be at most 256 characters']],
    // 8 code points but 4 UTF-16 pairs each: length counts code points.
    ['😀'.repeat(8), []],
    ['😀'.repeat(7), ['password must be at least 8 characters']],
    // 257 four-byte characters: over the byte cap, reported as such.
    ['😀'.repeat(257), ['password must be at most 1024 bytes']],
    ['a'.repeat(5000), ['password must be at most 1024 bytes']],
  ])('%#: %s', (password, problems) => {
    expect(passwordProblems(password)).toEqual(problems);
  });

  it('counts length after NFKC (a ligature becomes two letters)', () => {
    // "ﬀ" (U+FB00) normalises to "ff": 4 ligatures are 8 characters.
    expect(passwordProblems('\uFB00'.repeat(4))).toEqual([]);
  });
});
