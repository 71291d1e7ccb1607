import { hash, verify } from '@node-rs/argon2';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { normalizePassword } from './normalize.js';

/** argon2id with the OWASP-recommended minimum: 19 MiB, 2 passes, 1 lane. */
export const ARGON2_PARAMS = { algorithm: 2 /* Argon2id */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

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
  async verify(storedHash: string | undefined, password: string): Promise<boolean> {
    const normalized = normalizePassword(password);
    if (!storedHash) {
      await verify(this.dummyHash, normalized).catch(() => false);
      return false;
    }
    try {
      return await verify(storedHash, normalized);
    } catch {
      return false;
    }
  }
}
