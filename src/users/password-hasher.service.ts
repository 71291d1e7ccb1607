import { availableParallelism } from 'node:os';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { hash, verify } from '@node-rs/argon2';

import { Semaphore } from '../shared/semaphore.js';
import { normalizePassword } from '../shared/validation/normalize.js';

/** argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { algorithm: 2 /* Argon2id */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Hashes we can verify: ours, weaker argon2 ones, and imported bcrypt ones (accounts-js, LoopBack, …). */
// Costs are bounded: an imported hash must not make one login take minutes or gigabytes.
export const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-4])\$[./A-Za-z0-9]{53}$/;
const ARGON2_HASH = /^\$argon2(id|i|d)\$v=\d+\$m=(\d{1,6}),t=(\d{1,2}),p=(\d)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const ARGON2_LIMITS = { memoryCost: 262144, timeCost: 10, parallelism: 4 };

/** Loaded with the first imported bcrypt hash: its native library is about 1 MiB resident, and most instances never check one. */
let bcrypt: Promise<typeof import('@node-rs/bcrypt')> | undefined;

/** Whether a hash can be verified here at bounded cost (what users.import accepts). */
export function isSupportedHash(hash: string): boolean {
  if (BCRYPT_HASH.test(hash)) return true;
  const m = ARGON2_HASH.exec(hash);
  return (
    !!m && Number(m[2]) <= ARGON2_LIMITS.memoryCost && Number(m[3]) <= ARGON2_LIMITS.timeCost && Number(m[4]) <= ARGON2_LIMITS.parallelism
  );
}

export interface PasswordCheck {
  ok: boolean;
  /** The stored hash is a legacy or weaker one: replace it with argon2id while the password is at hand. */
  needsRehash: boolean;
}

@Injectable()
export class PasswordHasher implements OnModuleInit {
  private dummyHash = '';
  /**
   * Hashes and checks run on libuv's pool (4 threads) but each is CPU-bound: more at once than there
   * are cores only time-slices them and makes each slower (19 MiB each, contending for the caches),
   * and fills the pool, so fs and dns work would wait behind them. A check is one slot however many
   * verifies it runs, so a legacy hash and its padding still run side by side and cost the same.
   */
  private readonly slots = new Semaphore(availableParallelism());

  async onModuleInit(): Promise<void> {
    // Verified against when the user does not exist, so a miss costs the same as a wrong password.
    this.dummyHash = await hash('gatehouse-dummy-password', ARGON2_PARAMS);
  }

  hash(password: string): Promise<string> {
    const normalized = normalizePassword(password);
    return this.slots.run(() => hash(normalized, ARGON2_PARAMS));
  }

  /** Verifies against the stored hash, or against a dummy of equal cost when there is none. */
  check(storedHash: string | null | undefined, password: string): Promise<PasswordCheck> {
    return this.slots.run(() => this.checkNow(storedHash, password));
  }

  private async checkNow(storedHash: string | null | undefined, password: string): Promise<PasswordCheck> {
    const normalized = normalizePassword(password);
    if (!storedHash) {
      await verify(this.dummyHash, normalized).catch(() => false);
      return { ok: false, needsRehash: false };
    }
    if (!isSupportedHash(storedHash)) {
      await this.padToNativeCost(normalized);
      return { ok: false, needsRehash: false };
    }
    try {
      if (BCRYPT_HASH.test(storedHash)) {
        // Imported hashes were made from the password as typed. bcrypt reads 72 bytes at most: a
        // longer password is not rehashed, or a variant differing after byte 72 would become the password.
        const [ok] = await Promise.all([
          (bcrypt ??= import('@node-rs/bcrypt')).then(({ verify: verifyBcrypt }) => verifyBcrypt(password, storedHash)),
          this.padToNativeCost(normalized),
        ]);
        return { ok, needsRehash: Buffer.byteLength(password, 'utf8') <= 72 };
      }
      const weaker = isWeakerArgon2(storedHash);
      const [ok] = await Promise.all([verify(storedHash, normalized), weaker ? this.padToNativeCost(normalized) : undefined]);
      return { ok, needsRehash: weaker };
    } catch {
      return { ok: false, needsRehash: false };
    }
  }

  /**
   * A legacy (imported bcrypt, weaker argon2) hash is cheaper to check than ours: without this, a
   * wrong password answers faster for accounts not yet migrated, which enumerates them. Checking
   * one also runs a native verify beside it, so the answer takes as long as a native one (the
   * longer of the two, in parallel on the hash threads).
   */
  private async padToNativeCost(normalized: string): Promise<void> {
    await verify(this.dummyHash, normalized).catch(() => false);
  }
}

function isWeakerArgon2(storedHash: string): boolean {
  const m = ARGON2_HASH.exec(storedHash);
  if (!m) return true;
  return m[1] !== 'id' || Number(m[2]) < ARGON2_PARAMS.memoryCost || Number(m[3]) < ARGON2_PARAMS.timeCost;
}
