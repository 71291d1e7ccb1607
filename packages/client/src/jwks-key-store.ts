import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';

import { AUTH_CLIENT_OPTIONS, type AuthClientOptions } from './client-options.js';

export interface PublicKeyEntry {
  kid: string;
  alg: 'ES256' | 'RS256';
  key: KeyObject;
}

/** Refetch at most this often when a token names an unknown kid (a rotation); made-up kids cannot cause more. */
const UNKNOWN_KID_REFETCH_MS = 1_000;

/** gatehouse's public keys, fetched from its JWKS and cached; refetched on an unknown kid (throttled). */
@Injectable()
export class JwksKeyStore {
  private readonly logger = new Logger('JwksKeyStore');
  private keys = new Map<string, PublicKeyEntry>();
  private fetchedAt = 0;
  private inFlight?: Promise<void>;

  /** The set is refetched this often anyway, so a retired key stops verifying here within it. */
  private readonly refreshEveryMs: number;

  constructor(@Inject(AUTH_CLIENT_OPTIONS) private readonly options: AuthClientOptions) {
    this.refreshEveryMs = (options.jwksCacheSeconds ?? 60) * 1000;
  }

  async get(kid: string): Promise<PublicKeyEntry | undefined> {
    const stale = Date.now() - this.fetchedAt > this.refreshEveryMs;
    const known = this.keys.get(kid);
    if (known && !stale) return known;
    if (stale || Date.now() - this.fetchedAt > UNKNOWN_KID_REFETCH_MS) await this.refresh();
    return this.keys.get(kid);
  }

  /** Whether a key set was ever fetched (without one, no token can be judged). */
  get hasKeys(): boolean {
    return this.keys.size > 0;
  }

  /** Whether tokens of this kid may still be trusted (it is in the current set; refreshed in the background when stale). */
  isCurrent(kid: string): boolean {
    if (Date.now() - this.fetchedAt > this.refreshEveryMs) void this.refresh();
    return this.keys.has(kid);
  }

  /** Fetches the JWKS now (one fetch at a time); keeps the last good set if gatehouse is unreachable. */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchKeys().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchKeys(): Promise<void> {
    this.fetchedAt = Date.now();
    const url = this.options.jwksUrl;
    // Live mode may go without one: it never reads keys.
    if (!url) return;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: JsonWebKey[] };
      const next = new Map<string, PublicKeyEntry>();
      for (const jwk of body.keys ?? []) {
        const { kid, alg } = jwk as JsonWebKey & { kid?: string; alg?: string };
        // Only the asymmetric algorithms gatehouse signs with; never "none", never an HMAC.
        if (!kid || (alg !== 'ES256' && alg !== 'RS256')) continue;
        next.set(kid, { kid, alg, key: createPublicKey({ key: jwk, format: 'jwk' }) });
      }
      this.keys = next;
    } catch (error) {
      this.logger.warn(`could not fetch ${url}: ${(error as Error).message}`);
    }
  }
}
