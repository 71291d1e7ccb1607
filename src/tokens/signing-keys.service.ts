import { createHash, createPrivateKey, createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';

import { KEYS_CHANGED } from '../events/auth-changes.js';
import { APP_CONFIG, type AppConfig } from '../platform/config/app-config.js';
import type { JwtAlgorithm } from '../platform/config/env.schema.js';
import { DatabaseConnection } from '../platform/database/database-connection.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { generateSigningKey, jwkThumbprint, publicJwk } from './signing-key-material.js';
import { SigningKeysRepository, type GeneratedAlgorithm } from './signing-keys.repository.js';

export interface SigningKey {
  kid: string;
  algorithm: JwtAlgorithm;
  /** Parsed once: jsonwebtoken re-parses PEM strings on every call. */
  signingKey: KeyObject;
}

export interface VerificationKey {
  kid: string;
  algorithm: JwtAlgorithm;
  key: KeyObject;
  jwk?: JsonWebKey;
}

const RELOAD_ON_UNKNOWN_KID_MS = 5000;
/** Keys are also reloaded on this period, in case a change announcement was missed. */
const RELOAD_EVERY_MS = 60_000;

/**
 * Owns the keys that sign and verify access tokens: a configured key (JWT_PRIVATE_KEY or JWT_SECRET),
 * or generated key pairs kept in the database so that every instance signs and verifies alike.
 * Rotations and retirements (npm run keys) reach running instances through the change feed, on an
 * unknown kid, and every minute. Keys kept in the database are loaded once it is connected: until
 * then, signing and verifying answer 503 SERVICE_UNAVAILABLE.
 */
@Injectable()
export class SigningKeysService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SigningKeysService.name);
  private current?: SigningKey;
  /** The keys kept in the database have been read (always true with JWT_SECRET). */
  private loaded = false;
  private verification = new Map<string, VerificationKey>();
  private lastReload = 0;
  private configuredKey?: VerificationKey;
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly keys: SigningKeysRepository,
    private readonly database: DatabaseConnection,
  ) {}

  async onModuleInit(): Promise<void> {
    const { algorithm, secret, privateKey } = this.config.jwt;
    if (secret) {
      const kid = createHash('sha256').update('gatehouse-hs256-kid').update(secret.export()).digest('base64url').slice(0, 16);
      this.current = { kid, algorithm, signingKey: secret };
      this.verification = new Map([[kid, { kid, algorithm, key: secret }]]);
      this.loaded = true;
      return;
    }
    if (privateKey) {
      const publicKey = createPublicKey(privateKey);
      const kid = jwkThumbprint(publicKey);
      this.configuredKey = { kid, algorithm, key: publicKey, jwk: publicJwk(publicKey, kid, algorithm) };
    }
    await this.database.whenConnected('loading the signing keys', () => this.load());
  }

  private async load(): Promise<void> {
    const { algorithm, privateKey } = this.config.jwt;
    const current =
      privateKey && this.configuredKey
        ? { kid: this.configuredKey.kid, algorithm, signingKey: privateKey }
        : await this.loadOrCreateCurrent(algorithm as GeneratedAlgorithm);
    await this.reloadVerification();
    this.current = current;
    this.loaded = true;
    this.timer = setInterval(
      () => void this.reload().catch((error: Error) => this.logger.warn(`key reload failed: ${error.message}`)),
      RELOAD_EVERY_MS,
    );
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  signingKey(): SigningKey {
    if (!this.current || !this.loaded) throw keysUnavailable();
    return this.current;
  }

  /** Whether tokens signed with this kid still verify (it has not been retired). */
  isLive(kid: string): boolean {
    return this.verification.has(kid);
  }

  /** The key for a token's kid; an unknown kid triggers one throttled reload (keys added elsewhere). */
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    if (!this.loaded) throw keysUnavailable();
    const known = this.verification.get(kid);
    if (known || this.config.jwt.secret) return known;
    if (Date.now() - this.lastReload < RELOAD_ON_UNKNOWN_KID_MS) return undefined;
    await this.reloadVerification();
    return this.verification.get(kid);
  }

  /** Public keys for GET /.well-known/jwks.json: every key that still verifies; empty with HS256. */
  jwks(): { keys: JsonWebKey[] } {
    if (!this.loaded) throw keysUnavailable();
    return { keys: [...this.verification.values()].flatMap((k) => (k.jwk ? [k.jwk] : [])) };
  }

  /** After a rotation or retirement anywhere: sign with the current key, verify with the live ones. */
  @OnEvent(KEYS_CHANGED)
  async reload(): Promise<void> {
    // Before the first load (the database not connected yet), the load itself reads everything.
    if (this.config.jwt.secret || !this.loaded) return;
    // Publish first, then sign: no token may name a kid that this instance's JWKS does not list yet.
    await this.reloadVerification();
    if (!this.config.jwt.privateKey) {
      const current = await this.findCurrent(this.config.jwt.algorithm);
      if (current && this.verification.has(current.kid)) this.current = current;
    }
  }

  private async reloadVerification(): Promise<void> {
    this.lastReload = Date.now();
    const rows = await this.keys.findLive();
    const next = new Map<string, VerificationKey>();
    if (this.configuredKey) next.set(this.configuredKey.kid, this.configuredKey);
    for (const row of rows) {
      const key = createPublicKey(row.publicKey);
      next.set(row.kid, { kid: row.kid, algorithm: row.algorithm, key, jwk: publicJwk(key, row.kid, row.algorithm) });
    }
    this.verification = next;
  }

  private async loadOrCreateCurrent(algorithm: GeneratedAlgorithm): Promise<SigningKey> {
    const existing = await this.findCurrent(algorithm);
    if (existing) return existing;
    const key = await generateSigningKey(algorithm);
    // Several instances may start at once: one insert wins, and every one signs with the winner.
    await this.keys.insertCurrentIfNone(key);
    const stored = await this.findCurrent(algorithm);
    if (!stored) throw new Error(`no current ${algorithm} signing key could be stored`);
    if (stored.kid === key.kid) this.logger.log(`generated ${algorithm} signing key ${key.kid} and stored it in the database`);
    return stored;
  }

  private async findCurrent(algorithm: JwtAlgorithm): Promise<SigningKey | undefined> {
    const row = await this.keys.findCurrent(algorithm);
    if (!row) return undefined;
    return { kid: row.kid, algorithm, signingKey: createPrivateKey(row.privateKey) };
  }
}

function keysUnavailable(): AppError {
  return new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
}
