import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { IsNull, type DataSource, type EntityManager } from 'typeorm';

import { AUTH_CHANGES_CHANNEL } from '../events/auth-changes.js';
import type { JwtAlgorithm } from '../platform/config/env.schema.js';
import { SigningKeyEntity } from './signing-key.entity.js';

export type GeneratedAlgorithm = Exclude<JwtAlgorithm, 'HS256'>;

/** A generated key pair to store (PEM: PKCS#8 private, SPKI public). */
export interface NewSigningKey {
  kid: string;
  algorithm: GeneratedAlgorithm;
  privateKey: string;
  publicKey: string;
}

/** A stored key that still verifies. */
export interface PublicSigningKey {
  kid: string;
  algorithm: JwtAlgorithm;
  publicKey: string;
}

/** The key an algorithm's new tokens are signed with. */
export interface PrivateSigningKey {
  kid: string;
  algorithm: JwtAlgorithm;
  privateKey: string;
}

/**
 * Generated signing keys, shared by every instance. Rotating and retiring announce the change to
 * every running instance (`keys:changed`) in the same transaction.
 */
export abstract class SigningKeysRepository {
  /** Every key not retired, newest first. */
  abstract findLive(): Promise<PublicSigningKey[]>;

  /** The current, unretired key of the algorithm, with its private key. */
  abstract findCurrent(algorithm: JwtAlgorithm): Promise<PrivateSigningKey | null>;

  /**
   * Stores the key as its algorithm's current key unless the algorithm already has one (instances
   * starting together race here; exactly one wins). True when this key was stored.
   */
  abstract insertCurrentIfNone(key: NewSigningKey): Promise<boolean>;

  /**
   * Makes the key its algorithm's current key; the previous current key keeps verifying until
   * retired. Returns the kids of the keys it supersedes.
   */
  abstract rotate(key: NewSigningKey): Promise<{ previous: string[] }>;

  /**
   * Retires keys that no longer sign: those superseded at least `minAgeSeconds` ago, or the key
   * `kid` regardless of age. A current key is never retired. Returns the kids retired.
   */
  abstract retire(opts: { minAgeSeconds: number; kid?: string }): Promise<string[]>;
}

@Injectable()
export class PgSigningKeysRepository implements SigningKeysRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findLive(): Promise<PublicSigningKey[]> {
    const rows = await this.keys().find({ where: { retiredAt: IsNull() }, order: { createdAt: 'DESC' } });
    return rows.map((row) => ({ kid: row.kid, algorithm: row.algorithm as JwtAlgorithm, publicKey: row.publicKey }));
  }

  async findCurrent(algorithm: JwtAlgorithm): Promise<PrivateSigningKey | null> {
    const row = await this.keys().findOne({
      where: { algorithm, current: true, retiredAt: IsNull() },
      select: { kid: true, algorithm: true, privateKey: true },
    });
    return row ? { kid: row.kid, algorithm, privateKey: row.privateKey } : null;
  }

  async insertCurrentIfNone(key: NewSigningKey): Promise<boolean> {
    // The partial unique index on the current key of an algorithm decides the race.
    const result = await this.keys()
      .createQueryBuilder()
      .insert()
      .values({ ...key, current: true, retiredAt: null })
      .orIgnore()
      .returning(['kid'])
      .execute();
    return (result.raw as unknown[]).length > 0;
  }

  private keys() {
    return this.dataSource.getRepository(SigningKeyEntity);
  }

  rotate(key: NewSigningKey): Promise<{ previous: string[] }> {
    return this.dataSource.transaction(async (em) => {
      const previous: Array<{ kid: string }> = await em.query(
        `WITH old AS (UPDATE signing_keys SET current = false, superseded_at = now() WHERE algorithm = $1 AND current RETURNING kid) SELECT kid FROM old`,
        [key.algorithm],
      );
      await em.query(`INSERT INTO signing_keys (kid, algorithm, private_key, public_key, current) VALUES ($1, $2, $3, $4, true)`, [
        key.kid,
        key.algorithm,
        key.privateKey,
        key.publicKey,
      ]);
      await announceKeysChanged(em);
      return { previous: previous.map((r) => r.kid) };
    });
  }

  retire(opts: { minAgeSeconds: number; kid?: string }): Promise<string[]> {
    return this.dataSource.transaction(async (em) => {
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
    });
  }
}

/** Tells every running instance to reload its keys (they also reload every minute on their own). */
async function announceKeysChanged(em: EntityManager): Promise<void> {
  await em.query(`SELECT pg_notify('${AUTH_CHANGES_CHANNEL}', 'keys:changed')`);
}
