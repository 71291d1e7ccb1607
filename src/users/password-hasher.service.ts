import { hash, verify } from '@node-rs/argon2';
import { verify as verifyBcrypt } from '@node-rs/bcrypt';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { normalizePassword } from './normalize.js';

/** argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { algorithm: 2 /* Argon2id */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Hashes we can verify: ours, weaker argon2 ones, and imported bcrypt ones (accounts-js, LoopBack, …). */
export const BCRYPT_HASH = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const ARGON2_HASH = /^\$argon2(id|i|d)\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
export const SUPPORTED_HASH = new RegExp(`${BCRYPT_HASH.source}|${ARGON2_HASH.source}`);

export interface PasswordCheck {
  ok: boolean;
  /** The stored hash is a legacy or weaker one: replace it with argon2id while the password is at hand. */
  needsRehash: boolean;
}

@Injectable()
export class PasswordHasher implements OnModuleInit {
  private dummyHash = '';

  async onModuleInit(): Promise<void> {
    // Verified against when the user does not exist, so a miss costs the same as a wrong password.
    this.dummyHash = await hash('gatehouse-dummy-password', ARGON2_PARAMS);
  }

  hash(password: string): Promise<string> {
    return hash(normalizePassword(password), ARGON2_PARAMS);
  }

  /** Verifies against the stored hash, or against a dummy of equal cost when there is none. */
  async check(storedHash: string | undefined, password: string): Promise<PasswordCheck> {
    const normalized = normalizePassword(password);
    if (!storedHash) {
      await verify(this.dummyHash, normalized).catch(() => false);
      return { ok: false, needsRehash: false };
    }
    try {
      if (BCRYPT_HASH.test(storedHash)) {
        // Imported hashes were made from the password as typed (bcrypt itself reads 72 bytes at most).
        return { ok: await verifyBcrypt(password, storedHash), needsRehash: true };
      }
      return { ok: await verify(storedHash, normalized), needsRehash: isWeakerArgon2(storedHash) };
    } catch {
      return { ok: false, needsRehash: false };
    }
  }
}

function isWeakerArgon2(storedHash: string): boolean {
  const m = ARGON2_HASH.exec(storedHash);
  if (!m) return true;
  return m[1] !== 'id' || Number(m[2]) < ARGON2_PARAMS.memoryCost || Number(m[3]) < ARGON2_PARAMS.timeCost;
}
