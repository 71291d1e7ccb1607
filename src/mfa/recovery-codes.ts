import { randomInt } from 'node:crypto';

/** Lower-case letters and digits without look-alikes (0/o, 1/l/i): 31 symbols, about 4.95 bits each. */
export const RECOVERY_CODE_ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
export const RECOVERY_CODES_PER_SET = 10;
/** The non-secret prefix that finds a code's row, so an attempt costs one hash verify. */
const LOOKUP_LENGTH = 4;
/** 8 secret symbols (about 39.6 bits) behind the lookup: 12 symbols, about 59 bits, in all. */
const SECRET_LENGTH = 8;
const CODE = new RegExp(`^[${RECOVERY_CODE_ALPHABET}]{${LOOKUP_LENGTH + SECRET_LENGTH}}$`);

export interface RecoveryCode {
  /** As shown to the user: `xxxx-xxxx-xxxx`. */
  display: string;
  lookup: string;
  /** What is hashed: the whole code, normalised. */
  normalized: string;
}

function randomSymbols(length: number): string {
  let out = '';
  // randomInt draws without modulo bias.
  for (let i = 0; i < length; i++) out += RECOVERY_CODE_ALPHABET[randomInt(RECOVERY_CODE_ALPHABET.length)];
  return out;
}

/** A set of codes with distinct lookups (a user's lookups are unique). */
export function generateRecoveryCodes(count = RECOVERY_CODES_PER_SET): RecoveryCode[] {
  const codes = new Map<string, RecoveryCode>();
  while (codes.size < count) {
    const normalized = randomSymbols(LOOKUP_LENGTH + SECRET_LENGTH);
    const lookup = normalized.slice(0, LOOKUP_LENGTH);
    if (codes.has(lookup)) continue;
    codes.set(lookup, { lookup, normalized, display: `${lookup}-${normalized.slice(4, 8)}-${normalized.slice(8)}` });
  }
  return [...codes.values()];
}

/** A code as typed (any case, spaces, dashes), or null when it cannot be one of ours. */
export function parseRecoveryCode(input: string): { lookup: string; normalized: string } | null {
  const normalized = input.toLowerCase().replace(/[\s-]/g, '');
  return CODE.test(normalized) ? { lookup: normalized.slice(0, LOOKUP_LENGTH), normalized } : null;
}
