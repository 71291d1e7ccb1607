import { generateRecoveryCodes, parseRecoveryCode, RECOVERY_CODE_ALPHABET } from './recovery-codes';

describe('recovery codes', () => {
  it('makes 10 codes of the form xxxx-xxxx-xxxx from an alphabet without look-alikes, lookups distinct', () => {
    const codes = generateRecoveryCodes();
    expect(codes).toHaveLength(10);
    for (const code of codes) {
      expect(code.display).toMatch(/^[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}-[2-9a-hjkmnp-z]{4}$/);
      expect(code.normalized).toBe(code.display.replace(/-/g, ''));
      expect(code.lookup).toBe(code.display.slice(0, 4));
    }
    expect(new Set(codes.map((c) => c.lookup)).size).toBe(10);
    expect(RECOVERY_CODE_ALPHABET).not.toMatch(/[01ilo]/);
  });

  it('carries at least 50 bits of entropy', () => {
    expect(12 * Math.log2(RECOVERY_CODE_ALPHABET.length)).toBeGreaterThanOrEqual(50);
  });

  it('uses every symbol, about evenly', () => {
    const counts = new Map<string, number>();
    for (const code of generateRecoveryCodes(2000)) for (const c of code.normalized) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(RECOVERY_CODE_ALPHABET.length);
    const expected = (2000 * 12) / RECOVERY_CODE_ALPHABET.length;
    for (const n of counts.values()) expect(Math.abs(n - expected)).toBeLessThan(expected * 0.25);
  });

  it('reads a code whatever its case, spaces and dashes', () => {
    const [code] = generateRecoveryCodes(1);
    const expected = { lookup: code.lookup, normalized: code.normalized };
    for (const typed of [
      code.display,
      code.normalized,
      code.display.toUpperCase(),
      ` ${code.display.replace(/-/g, ' ')} `,
      `${code.normalized.slice(0, 6)}-${code.normalized.slice(6)}`,
    ]) {
      expect(parseRecoveryCode(typed)).toEqual(expected);
    }
  });

  it.each(['', 'abcd-efgh-jkm', 'abcd-efgh-jkmnp', 'abcd-efgh-jkm0', 'abcd-efgh-jkmo', 'abcd_efgh_jkmn', '123456'])(
    'refuses %j',
    (typed) => {
      expect(parseRecoveryCode(typed)).toBeNull();
    },
  );
});
