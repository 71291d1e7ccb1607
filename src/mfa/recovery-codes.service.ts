import { Injectable } from '@nestjs/common';

import { PasswordHasher } from '../users/password-hasher.service.js';
import { generateRecoveryCodes, parseRecoveryCode } from './recovery-codes.js';
import { RecoveryCodesRepository } from './recovery-codes.repository.js';

/**
 * Recovery codes: 10 single-use codes `xxxx-xxxx-xxxx`, shown once, stored as argon2id hashes
 * (PasswordHasher: its parameters and its one-hash-per-core limit). The first group is a non-secret
 * lookup, so an attempt costs one verify, never ten; an unknown lookup costs one verify of a dummy
 * hash, so a miss takes as long as a wrong code.
 */
@Injectable()
export class RecoveryCodesService {
  constructor(
    private readonly codes: RecoveryCodesRepository,
    private readonly hasher: PasswordHasher,
  ) {}

  /** A new set for the user, replacing the old one (void at once); the codes to show, once. */
  async regenerate(userId: string): Promise<string[]> {
    const codes = generateRecoveryCodes();
    // Hashed before the transaction opens: ten hashes must not hold a connection and its locks.
    const hashed = await Promise.all(codes.map(async (c) => ({ lookup: c.lookup, codeHash: await this.hasher.hash(c.normalized) })));
    await this.codes.replaceAll(userId, hashed);
    return codes.map((c) => c.display);
  }

  /**
   * Uses a code: on success it is spent (for exactly one of concurrent uses) and the answer says how
   * many remain; null for a wrong, used or malformed code.
   */
  async use(userId: string, input: string): Promise<{ remaining: number } | null> {
    const code = parseRecoveryCode(input);
    if (!code) return null;
    const stored = await this.codes.findUnused(userId, code.lookup);
    const { ok } = await this.hasher.check(stored?.codeHash, code.normalized);
    if (!ok || !stored || !(await this.codes.markUsed(stored.id))) return null;
    return { remaining: await this.codes.countUnused(userId) };
  }

  remaining(userId: string): Promise<number> {
    return this.codes.countUnused(userId);
  }
}
