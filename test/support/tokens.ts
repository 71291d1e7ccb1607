/** Reads a JWT's header and claims without verifying (for assertions). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  const parse = (part: string | undefined): Record<string, unknown> =>
    JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: parse(header), payload: parse(payload) };
}

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/**
 * The token with its signature changed in its first character, which always changes the signature's
 * bytes. (Changing the last characters does not: the final base64url character of an ES256 signature
 * carries 2 significant bits, and decoders ignore the rest, so such a "tampered" token still verifies
 * about once in 256 runs.)
 */
export function withTamperedSignature(token: string): string {
  const [h, p, sig = ''] = token.split('.');
  return `${h}.${p}.${(sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)}`;
}
