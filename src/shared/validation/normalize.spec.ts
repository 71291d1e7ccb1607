import { COMMON_PASSWORD_MESSAGE, isSimilarToIdentity, normalizeEmail, normalizeUsername, passwordProblems } from './normalize';

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
    ['12345678', [COMMON_PASSWORD_MESSAGE]],
    ['PassWord1', [COMMON_PASSWORD_MESSAGE]],
    ['iloveyou', [COMMON_PASSWORD_MESSAGE]],
    ['glacier-teapot-71', []],
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

describe('isSimilarToIdentity', () => {
  it.each([
    ['alice.smith@example.com', null, 'alicesmith2024', true],
    ['alice.smith@example.com', null, 'Alice.Smith!', true],
    ['bob@example.com', null, 'bobbobbob1', false], // local part under 4 characters is not judged
    ['jonathan@example.com', 'jdoe_42', 'jdoe42-secret', true],
    ['jonathan@example.com', null, 'glacier-teapot-71', false],
  ])('%s / %s with %s → %s', (email, username, password, similar) => {
    expect(isSimilarToIdentity(password, { email, username })).toBe(similar);
  });
});
