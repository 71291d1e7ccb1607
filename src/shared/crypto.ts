import { createHash, randomBytes } from 'node:crypto';

/** An opaque token with 256 bits of randomness, URL-safe. */
export const generateOpaqueToken = (): string => randomBytes(32).toString('base64url');

/** How opaque tokens are stored and looked up: never the token itself. */
export const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
