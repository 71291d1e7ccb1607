import { createHash, generateKeyPair, JsonWebKey, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

import type { JwtAlgorithm } from '../platform/config/env.schema.js';
import type { GeneratedAlgorithm, NewSigningKey } from './signing-keys.repository.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** RFC 7638 thumbprint: a kid derived from the public key itself. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

export function publicJwk(key: KeyObject, kid: string, algorithm: JwtAlgorithm): JsonWebKey {
  return { ...key.export({ format: 'jwk' }), kid, alg: algorithm, use: 'sig' };
}

/** A fresh key pair for an asymmetric algorithm, as stored in `signing_keys`. */
export async function generateSigningKey(algorithm: GeneratedAlgorithm): Promise<NewSigningKey> {
  const { privateKey, publicKey } =
    algorithm === 'RS256'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return {
    kid: jwkThumbprint(publicKey),
    algorithm,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}
