import { Secret, TOTP } from 'otpauth';

/** RFC 6238 as authenticator apps expect it: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** Steps accepted either side of the current one (−1..+1): about 30 s of clock skew. */
export const TOTP_WINDOW = 1;
/** 160 bits, the size of an HMAC-SHA1 key (RFC 4226 §4). */
export const TOTP_SECRET_BYTES = 20;

export function generateTotpSecret(): Buffer {
  return Buffer.from(new Secret({ size: TOTP_SECRET_BYTES }).bytes);
}

export function base32Secret(secret: Buffer): string {
  return new Secret({ buffer: Uint8Array.from(secret).buffer }).base32;
}

/** The otpauth:// URL an authenticator app reads (from a QR code): issuer, label, secret. */
export function otpauthUrl(secret: Buffer, opts: { issuer: string; account: string }): string {
  return new TOTP({
    ...TOTP_PARAMS,
    issuer: opts.issuer,
    label: opts.account,
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
  }).toString();
}

/** Spaces and dashes dropped; anything but six digits is no code. */
export function normalizeTotpCode(code: string): string | null {
  const digits = code.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

/**
 * The time step (counter) whose code this is, within −1..+1 of `now`, or null. The step is what a
 * code is claimed by: a step at or before the last accepted one must be refused.
 */
export function matchTotpStep(secret: Buffer, code: string, now: number = Date.now()): number | null {
  const token = normalizeTotpCode(code);
  if (token === null) return null;
  const delta = TOTP.validate({
    ...TOTP_PARAMS,
    token,
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
    timestamp: now,
    window: TOTP_WINDOW,
  });
  return delta === null ? null : TOTP.counter({ period: TOTP_PARAMS.period, timestamp: now }) + delta;
}
