import type { JwtAlgorithm } from '../../src/platform/config/env.schema';
import type { NewSigningKey, PrivateSigningKey, PublicSigningKey, SigningKeysRepository } from '../../src/tokens/signing-keys.repository';

interface StoredKey extends NewSigningKey {
  current: boolean;
  createdAt: number;
  supersededAt: number | null;
  retiredAt: number | null;
}

/** SigningKeysRepository in memory, for unit specs; it passes the same contract as PgSigningKeysRepository. */
export class InMemorySigningKeysRepository implements SigningKeysRepository {
  private readonly keys = new Map<string, StoredKey>();
  private lastNow = 0;

  findLive(): Promise<PublicSigningKey[]> {
    return Promise.resolve(
      [...this.keys.values()]
        .filter((k) => k.retiredAt === null)
        .sort((a, b) => b.createdAt - a.createdAt)
        .map((k) => ({ kid: k.kid, algorithm: k.algorithm, publicKey: k.publicKey })),
    );
  }

  findCurrent(algorithm: JwtAlgorithm): Promise<PrivateSigningKey | null> {
    const key = [...this.keys.values()].find((k) => k.algorithm === algorithm && k.current && k.retiredAt === null);
    return Promise.resolve(key ? { kid: key.kid, algorithm, privateKey: key.privateKey } : null);
  }

  insertCurrentIfNone(key: NewSigningKey): Promise<boolean> {
    // The real table's unique indexes: one current key per algorithm, one row per kid.
    if (this.keys.has(key.kid) || [...this.keys.values()].some((k) => k.algorithm === key.algorithm && k.current))
      return Promise.resolve(false);
    this.store(key);
    return Promise.resolve(true);
  }

  rotate(key: NewSigningKey): Promise<{ previous: string[] }> {
    if (this.keys.has(key.kid)) return Promise.reject(new Error(`duplicate kid ${key.kid}`));
    const now = this.now();
    const previous = [...this.keys.values()].filter((k) => k.algorithm === key.algorithm && k.current);
    for (const k of previous) Object.assign(k, { current: false, supersededAt: now });
    this.store(key);
    return Promise.resolve({ previous: previous.map((k) => k.kid) });
  }

  retire(opts: { minAgeSeconds: number; kid?: string }): Promise<string[]> {
    const now = this.now();
    const retired = [...this.keys.values()].filter(
      (k) =>
        !k.current &&
        k.retiredAt === null &&
        (opts.kid !== undefined ? k.kid === opts.kid : k.supersededAt !== null && k.supersededAt <= now - opts.minAgeSeconds * 1000),
    );
    for (const k of retired) k.retiredAt = now;
    return Promise.resolve(retired.map((k) => k.kid));
  }

  private store(key: NewSigningKey): void {
    this.keys.set(key.kid, { ...key, current: true, createdAt: this.now(), supersededAt: null, retiredAt: null });
  }

  /** Like PostgreSQL's now() in successive transactions: every call sees a later time. */
  private now(): number {
    this.lastNow = Math.max(Date.now(), this.lastNow + 1);
    return this.lastNow;
  }
}
