import { Secret, TOTP } from 'otpauth';

import { base32Secret, generateTotpSecret, matchTotpStep, normalizeTotpCode, otpauthUrl, TOTP_PARAMS } from './totp';

/** A moment in the middle of a step: codes for now±30 s and now±60 s are then never at a step's edge. */
function midStep(): number {
  const now = Date.now();
  const into = now % 30_000;
  // Avoid the last 2 s of a step (and the first), as a test against the real clock must.
  return into > 2_000 && into < 28_000 ? now : now - into + 15_000;
}

const codeAt = (secret: Buffer, timestamp: number): string =>
  TOTP.generate({ ...TOTP_PARAMS, secret: new Secret({ buffer: Uint8Array.from(secret).buffer }), timestamp });

describe('TOTP', () => {
  const secret = generateTotpSecret();

  it('draws 160-bit secrets', () => {
    expect(secret).toHaveLength(20);
    expect(generateTotpSecret().equals(secret)).toBe(false);
    expect(base32Secret(secret)).toMatch(/^[A-Z2-7]{32}$/);
  });

  it.each([
    ['now − 30 s', -30_000, -1],
    ['now', 0, 0],
    ['now + 30 s', 30_000, 1],
  ])('accepts the code of %s and names its step', (_, offset, delta) => {
    const now = midStep();
    const step = Math.floor(now / 30_000);
    expect(matchTotpStep(secret, codeAt(secret, now + offset), now)).toBe(step + delta);
  });

  it.each([
    ['now − 60 s', -60_000],
    ['now + 60 s', 60_000],
    ['now − 90 s', -90_000],
  ])('refuses the code of %s', (_, offset) => {
    const now = midStep();
    const code = codeAt(secret, now + offset);
    // Unless it happens to equal a code inside the window (one chance in about 300,000).
    const inside = [-30_000, 0, 30_000].some((o) => codeAt(secret, now + o) === code);
    expect(matchTotpStep(secret, code, now)).toEqual(inside ? expect.any(Number) : null);
  });

  it('works against the real clock with the default time', () => {
    const now = midStep();
    if (Math.abs(now - Date.now()) > 1000) return;
    expect(matchTotpStep(secret, codeAt(secret, Date.now()))).toBe(Math.floor(Date.now() / 30_000));
  });

  it('refuses another secret, and anything but six digits; takes spaces and dashes', () => {
    const now = midStep();
    const code = codeAt(secret, now);
    expect(matchTotpStep(generateTotpSecret(), code, now)).toBeNull();
    expect(matchTotpStep(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now)).toBe(Math.floor(now / 30_000));
    expect(normalizeTotpCode('123-456')).toBe('123456');
    for (const bad of ['', '12345', '1234567', 'abcdef', '12345a', '１２３４５６']) expect(normalizeTotpCode(bad)).toBeNull();
  });

  it('builds the otpauth URL with issuer, account label and the base32 secret', () => {
    const url = new URL(otpauthUrl(secret, { issuer: 'id.example.com', account: 'ann@example.com' }));
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname)).toBe('/id.example.com:ann@example.com');
    expect(url.searchParams.get('issuer')).toBe('id.example.com');
    expect(url.searchParams.get('secret')).toBe(base32Secret(secret));
    expect(url.searchParams.get('algorithm')).toBe('SHA1');
    expect(url.searchParams.get('digits')).toBe('6');
    expect(url.searchParams.get('period')).toBe('30');
  });
});
