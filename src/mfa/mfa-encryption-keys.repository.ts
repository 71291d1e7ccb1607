import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** A generated key for TOTP secrets: its id (see secret-box keyId) and its 32 bytes. */
export interface StoredEncryptionKey {
  kid: string;
  key: Buffer;
  current: boolean;
}

/** Generated encryption keys, shared by every instance through the database. */
export abstract class MfaEncryptionKeysRepository {
  /** Every stored key, the current one first. */
  abstract findAll(): Promise<StoredEncryptionKey[]>;

  /**
   * Stores the key as the current one unless there already is one (instances starting together race
   * here; exactly one wins). True when this key was stored.
   */
  abstract insertCurrentIfNone(key: { kid: string; key: Buffer }): Promise<boolean>;
}

@Injectable()
export class PgMfaEncryptionKeysRepository implements MfaEncryptionKeysRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findAll(): Promise<StoredEncryptionKey[]> {
    return this.dataSource.query(`SELECT kid, key, current FROM mfa_encryption_keys ORDER BY current DESC, created_at DESC`);
  }

  async insertCurrentIfNone(key: { kid: string; key: Buffer }): Promise<boolean> {
    // The partial unique index on the current key decides the race.
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO mfa_encryption_keys (kid, key, current) VALUES ($1, $2, true) ON CONFLICT DO NOTHING RETURNING kid`,
      [key.kid, key.key],
    );
    return rows.length > 0;
  }
}
