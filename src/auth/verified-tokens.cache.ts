import { Injectable } from '@nestjs/common';

interface Entry {
  claims: Record<string, unknown>;
  kid: string;
  /** Epoch ms of the token's exp. */
  expiresAt: number;
}

const MAX_ENTRIES = 20_000;

/**
 * Tokens whose signature and claims passport-jwt has already verified, keyed by the exact token
 * string, until their exp. A client reuses its access token for many calls; re-checking an ES256
 * signature each time costs more than the rest of the request. The live-session check still runs
 * on every call, so revocation is unaffected.
 */
@Injectable()
export class VerifiedTokensCache {
  private readonly entries = new Map<string, Entry>();

  get(token: string, isKeyLive: (kid: string) => boolean, now = Date.now()): Record<string, unknown> | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.expiresAt <= now || !isKeyLive(entry.kid)) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.claims;
  }

  set(token: string, kid: string, claims: Record<string, unknown>): void {
    const exp = claims.exp;
    if (typeof exp !== 'number') return;
    if (this.entries.size >= MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, { claims: Object.freeze(claims), kid, expiresAt: exp * 1000 });
  }
}
