import { createHash, generateKeyPair, JsonWebKey, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { EntityManager } from 'typeorm';
import { AUTH_CHANGES_CHANNEL } from '../events/auth-changes.js';
import type { JwtAlgorithm } from '../platform/config/env.schema.js';

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

export interface NewKeyRow {
  kid: string;
  algorithm: JwtAlgorithm;
  privateKey: string;
  publicKey: string;
}

/** A fresh key pair for an asymmetric algorithm, as stored in `signing_keys`. */
export async function generateSigningKey(algorithm: Exclude<JwtAlgorithm, 'HS256'>): Promise<NewKeyRow> {
  const { privateKey, publicKey } = algorithm === 'RS256'
    ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
    : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
  return {
    kid: jwkThumbprint(publicKey),
    algorithm,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Tells every running instance to reload its keys (they also reload every minute on their own). */
export async function announceKeysChanged(em: Pick<EntityManager, 'query'>): Promise<void> {
  await em.query(`SELECT pg_notify('${AUTH_CHANGES_CHANNEL}', 'keys:changed')`);
}

/**
 * Makes a new key the signing key of its algorithm; the previous one keeps verifying (and stays in
 * the JWKS) until it is retired.
 */
export async function rotateSigningKey(em: EntityManager, algorithm: Exclude<JwtAlgorithm, 'HS256'>): Promise<{ kid: string; previous: string[] }> {
  const key = await generateSigningKey(algorithm);
  const previous: Array<{ kid: string }> = await em.query(
    `WITH old AS (UPDATE signing_keys SET current = false, superseded_at = now() WHERE algorithm = $1 AND current RETURNING kid) SELECT kid FROM old`,
    [algorithm],
  );
  await em.query(
    `INSERT INTO signing_keys (kid, algorithm, private_key, public_key, current) VALUES ($1, $2, $3, $4, true)`,
    [key.kid, key.algorithm, key.privateKey, key.publicKey],
  );
  await announceKeysChanged(em);
  return { kid: key.kid, previous: previous.map((r) => r.kid) };
}

/**
 * Retires keys that no longer sign: by default only those superseded at least `minAgeSeconds` ago
 * (so every token they signed has expired); a named kid regardless of age. A current key is never
 * retired. Tokens signed by a retired key are refused from then on, and it leaves the JWKS.
 */
export async function retireSigningKeys(em: EntityManager, opts: { minAgeSeconds: number; kid?: string }): Promise<string[]> {
  const rows: Array<{ kid: string }> = await em.query(
    `WITH r AS (
       UPDATE signing_keys SET retired_at = now()
        WHERE NOT current AND retired_at IS NULL
          AND ($1::text IS NULL OR kid = $1)
          AND ($1::text IS NOT NULL OR superseded_at <= now() - make_interval(secs => $2))
        RETURNING kid)
     SELECT kid FROM r`,
    [opts.kid ?? null, opts.minAgeSeconds],
  );
  if (rows.length > 0) await announceKeysChanged(em);
  return rows.map((r) => r.kid);
}
