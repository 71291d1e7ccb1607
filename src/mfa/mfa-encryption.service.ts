import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { MfaEncryptionKeysRepository } from './mfa-encryption-keys.repository.js';
import { keyId, open, seal, sealedKeyId } from './secret-box.js';

/**
 * Seals second-factor secrets at rest (AES-256-GCM, see secret-box.ts) with MFA_ENCRYPTION_KEY, or,
 * when it is unset, with a key generated once and kept in the database so that every instance uses
 * the same one. Keys kept in the database also open what they sealed after MFA_ENCRYPTION_KEY is
 * set, so a deployment can move to a configured key without re-encrypting. Until the database is
 * connected, sealing and opening answer 503 SERVICE_UNAVAILABLE. Keys are KeyObjects and never
 * logged (only their ids are).
 */
@Injectable()
export class MfaEncryption implements OnModuleInit {
  private readonly logger = new Logger(MfaEncryption.name);
  private current?: KeyObject;
  private keys = new Map<string, KeyObject>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly stored: MfaEncryptionKeysRepository,
    private readonly database: DatabaseConnection,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.database.whenConnected('loading the MFA encryption key', () => this.load());
  }

  /** Seals the secret for its owner (the context is authenticated: the value opens for that owner only). */
  seal(secret: Buffer, owner: string): Buffer {
    if (!this.current) throw unavailable();
    return seal(this.current, secret, owner);
  }

  /** Opens a sealed secret of this owner; throws when it was altered, or sealed for someone else. */
  async open(sealed: Buffer, owner: string): Promise<Buffer> {
    if (!this.current) throw unavailable();
    const kid = sealedKeyId(sealed);
    if (!this.keys.has(kid)) await this.load();
    const key = this.keys.get(kid);
    if (!key) throw new Error(`no MFA encryption key ${kid} is known: was MFA_ENCRYPTION_KEY changed?`);
    return open(key, sealed, owner);
  }

  private async load(): Promise<void> {
    const configured = this.config.mfa.encryptionKey;
    let rows = await this.stored.findAll();
    if (!configured && !rows.some((r) => r.current)) {
      const key = randomBytes(32);
      const kid = keyId(createSecretKey(key));
      // Several instances may start at once: one insert wins, and every one uses the winner.
      if (await this.stored.insertCurrentIfNone({ kid, key }))
        this.logger.log(`generated MFA encryption key ${kid} and stored it in the database`);
      rows = await this.stored.findAll();
    }
    const keys = new Map(rows.map((r) => [r.kid, createSecretKey(r.key)]));
    if (configured) keys.set(keyId(configured), configured);
    const current = configured ?? keys.get(rows.find((r) => r.current)?.kid ?? '');
    if (!current) throw new Error('no current MFA encryption key could be stored');
    this.keys = keys;
    this.current = current;
  }
}

function unavailable(): AppError {
  return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
}
