import { createCipheriv, createDecipheriv, createHash, randomBytes, type KeyObject } from 'node:crypto';

/**
 * AES-256-GCM with the key's id in every ciphertext, so that a later key can be added without
 * re-encrypting what the earlier one sealed:
 *
 *   version (1 byte, 1) ‖ kid (4 bytes) ‖ iv (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
 *
 * The header and a caller's context (the owner's id) are authenticated data: a sealed value copied
 * to another row or altered by one bit does not open.
 */
const VERSION = 1;
const KID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KID_BYTES;

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

/** The id of a key in ciphertexts and in the database: derived from the key, never revealing it. */
export function keyId(key: KeyObject): string {
  return createHash('sha256').update('gatehouse-mfa-key-id\0').update(key.export()).digest().subarray(0, KID_BYTES).toString('hex');
}

export function seal(key: KeyObject, plaintext: Buffer, context: string): Buffer {
  const header = Buffer.concat([Buffer.from([VERSION]), Buffer.from(keyId(key), 'hex')]);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, body, cipher.getAuthTag()]);
}

/** The kid a sealed value names (to find its key), or throws when it is not one of ours. */
export function sealedKeyId(sealed: Buffer): string {
  if (sealed.length < HEADER_BYTES + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new SecretBoxError('not a sealed value of a known version');
  }
  return sealed.subarray(1, HEADER_BYTES).toString('hex');
}

export function open(key: KeyObject, sealed: Buffer, context: string): Buffer {
  const kid = sealedKeyId(sealed);
  if (kid !== keyId(key)) throw new SecretBoxError(`sealed with key ${kid}, not with the given key`);
  const header = sealed.subarray(0, HEADER_BYTES);
  const iv = sealed.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const body = sealed.subarray(HEADER_BYTES + IV_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SecretBoxError('the sealed value does not open: altered, or sealed for another owner');
  }
}
