import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, JsonWebKey, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { IsNull, Repository } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { JwtAlgorithm } from '../config/env.schema.js';
import { SigningKeyEntity } from './signing-key.entity.js';

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

const generateKeyPairAsync = promisify(generateKeyPair);
const RELOAD_MIN_INTERVAL_MS = 5000;

/**
 * Owns the keys that sign and verify access tokens: a configured key (JWT_PRIVATE_KEY or JWT_SECRET),
 * or generated key pairs kept in the database so that every instance signs and verifies alike.
 */
@Injectable()
export class SigningKeysService implements OnModuleInit {
  private readonly logger = new Logger(SigningKeysService.name);
  private current!: SigningKey;
  private verification = new Map<string, VerificationKey>();
  private lastReload = 0;
  private configuredKey?: VerificationKey;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @InjectRepository(SigningKeyEntity) private readonly keys: Repository<SigningKeyEntity>,
  ) {}

  async onModuleInit(): Promise<void> {
    const { algorithm, secret, privateKey } = this.config.jwt;
    if (secret) {
      const kid = createHash('sha256').update('gatehouse-hs256-kid').update(secret.export()).digest('base64url').slice(0, 16);
      this.current = { kid, algorithm, signingKey: secret };
      this.verification = new Map([[kid, { kid, algorithm, key: secret }]]);
      return;
    }
    if (privateKey) {
      const publicKey = createPublicKey(privateKey);
      const kid = jwkThumbprint(publicKey);
      this.current = { kid, algorithm, signingKey: privateKey };
      this.configuredKey = { kid, algorithm, key: publicKey, jwk: publicJwk(publicKey, kid, algorithm) };
    } else {
      this.current = await this.loadOrCreateCurrent(algorithm);
    }
    await this.reload();
  }

  signingKey(): SigningKey {
    return this.current;
  }

  /** The key for a token's kid; an unknown kid triggers one throttled reload (keys added elsewhere). */
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    const known = this.verification.get(kid);
    if (known || this.config.jwt.secret) return known;
    if (Date.now() - this.lastReload < RELOAD_MIN_INTERVAL_MS) return undefined;
    await this.reload();
    return this.verification.get(kid);
  }

  /** Whether tokens signed with this kid still verify (it has not been retired). */
  isLive(kid: string): boolean {
    return this.verification.has(kid);
  }

  /** Public keys for GET /.well-known/jwks.json; empty with HS256. */
  jwks(): { keys: JsonWebKey[] } {
    return { keys: [...this.verification.values()].flatMap((k) => (k.jwk ? [k.jwk] : [])) };
  }

  private async reload(): Promise<void> {
    this.lastReload = Date.now();
    const rows = await this.keys.find({ where: { retiredAt: IsNull() }, order: { createdAt: 'DESC' } });
    const next = new Map<string, VerificationKey>();
    if (this.configuredKey) next.set(this.configuredKey.kid, this.configuredKey);
    for (const row of rows) {
      const key = createPublicKey(row.publicKey);
      const algorithm = row.algorithm as JwtAlgorithm;
      next.set(row.kid, { kid: row.kid, algorithm, key, jwk: publicJwk(key, row.kid, algorithm) });
    }
    this.verification = next;
  }

  private async loadOrCreateCurrent(algorithm: JwtAlgorithm): Promise<SigningKey> {
    const existing = await this.findCurrent(algorithm);
    if (existing) return existing;
    const { privateKey, publicKey } = algorithm === 'RS256'
      ? await generateKeyPairAsync('rsa', { modulusLength: 2048 })
      : await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const kid = jwkThumbprint(publicKey);
    // Several instances may start at once: the unique index on the current key lets one insert win.
    await this.keys
      .createQueryBuilder()
      .insert()
      .values({
        kid,
        algorithm,
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        current: true,
        retiredAt: null,
      })
      .orIgnore()
      .execute();
    const stored = await this.findCurrent(algorithm);
    if (!stored) throw new Error(`no current ${algorithm} signing key could be stored`);
    if (stored.kid === kid) this.logger.log(`generated ${algorithm} signing key ${kid} and stored it in the database`);
    return stored;
  }

  private async findCurrent(algorithm: JwtAlgorithm): Promise<SigningKey | undefined> {
    const row = await this.keys.findOne({
      where: { algorithm, current: true, retiredAt: IsNull() },
      select: { kid: true, algorithm: true, privateKey: true },
    });
    if (!row) return undefined;
    return { kid: row.kid, algorithm, signingKey: createPrivateKey(row.privateKey) };
  }
}

function publicJwk(key: KeyObject, kid: string, algorithm: JwtAlgorithm): JsonWebKey {
  return { ...key.export({ format: 'jwk' }), kid, alg: algorithm, use: 'sig' };
}

/** RFC 7638 thumbprint: a kid derived from the public key itself. */
function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
