import { randomUUID } from 'node:crypto';

import type { MfaChallenge, MfaChallengesRepository, NewMfaChallenge } from '../../src/mfa/mfa-challenges.repository';
import type { MfaEncryptionKeysRepository, StoredEncryptionKey } from '../../src/mfa/mfa-encryption-keys.repository';
import type { CountedMfaAttempt, MfaLockoutRepository } from '../../src/mfa/mfa-lockout.repository';
import type { NewRecoveryCode, RecoveryCodesRepository } from '../../src/mfa/recovery-codes.repository';
import type { StoredTotp, TotpRepository } from '../../src/mfa/totp.repository';

/**
 * The second-factor repositories in maps, each passing the same contract as PostgreSQL's (see
 * test/contracts/mfa.repositories.contract.ts), on a clock the spec may move. Each method runs to
 * completion before another starts, which is the atomicity the conditional updates give.
 */

export class InMemoryTotpRepository implements TotpRepository {
  private readonly rows = new Map<string, StoredTotp>();

  find(userId: string): Promise<StoredTotp | null> {
    const row = this.rows.get(userId);
    return Promise.resolve(row ? { ...row } : null);
  }

  hasConfirmed(userId: string): Promise<boolean> {
    return Promise.resolve(!!this.rows.get(userId)?.confirmedAt);
  }

  savePending(userId: string, secretEnc: Buffer): Promise<boolean> {
    if (this.rows.get(userId)?.confirmedAt) return Promise.resolve(false);
    this.rows.set(userId, { secretEnc: Buffer.from(secretEnc), confirmedAt: null, lastStep: null });
    return Promise.resolve(true);
  }

  confirm(userId: string, secretEnc: Buffer, step: number): Promise<boolean> {
    const row = this.rows.get(userId);
    if (!row || row.confirmedAt || !row.secretEnc.equals(secretEnc)) return Promise.resolve(false);
    Object.assign(row, { confirmedAt: new Date(), lastStep: step });
    return Promise.resolve(true);
  }

  claimStep(userId: string, secretEnc: Buffer, step: number): Promise<boolean> {
    const row = this.rows.get(userId);
    if (!row?.confirmedAt || !row.secretEnc.equals(secretEnc) || (row.lastStep !== null && row.lastStep >= step))
      return Promise.resolve(false);
    row.lastStep = step;
    return Promise.resolve(true);
  }

  delete(userId: string): Promise<boolean> {
    return Promise.resolve(this.rows.delete(userId));
  }
}

interface CodeRow extends NewRecoveryCode {
  id: string;
  userId: string;
  usedAt: Date | null;
}

export class InMemoryRecoveryCodesRepository implements RecoveryCodesRepository {
  private rows: CodeRow[] = [];

  findUnused(userId: string, lookup: string): Promise<{ id: string; codeHash: string } | null> {
    const row = this.rows.find((r) => r.userId === userId && r.lookup === lookup && !r.usedAt);
    return Promise.resolve(row ? { id: row.id, codeHash: row.codeHash } : null);
  }

  markUsed(id: string): Promise<boolean> {
    const row = this.rows.find((r) => r.id === id && !r.usedAt);
    if (row) row.usedAt = new Date();
    return Promise.resolve(!!row);
  }

  countUnused(userId: string): Promise<number> {
    return Promise.resolve(this.rows.filter((r) => r.userId === userId && !r.usedAt).length);
  }

  replaceAll(userId: string, codes: NewRecoveryCode[]): Promise<void> {
    if (new Set(codes.map((c) => c.lookup)).size !== codes.length) return Promise.reject(new Error('duplicate lookup'));
    this.rows = [...this.rows.filter((r) => r.userId !== userId), ...codes.map((c) => ({ ...c, id: randomUUID(), userId, usedAt: null }))];
    return Promise.resolve();
  }

  deleteAll(userId: string): Promise<void> {
    this.rows = this.rows.filter((r) => r.userId !== userId);
    return Promise.resolve();
  }
}

interface ChallengeRow extends MfaChallenge {
  tokenHash: string;
  consumed: boolean;
}

export class InMemoryMfaChallengesRepository implements MfaChallengesRepository {
  private readonly rows = new Map<string, ChallengeRow>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  create(input: NewMfaChallenge): Promise<MfaChallenge> {
    if ([...this.rows.values()].some((r) => r.tokenHash === input.tokenHash)) return Promise.reject(new Error('duplicate token hash'));
    const row: ChallengeRow = {
      id: randomUUID(),
      tokenHash: input.tokenHash,
      userId: input.userId,
      firstFactor: input.firstFactor,
      loginContext: structuredClone(input.loginContext),
      attempts: 0,
      expiresAt: new Date(this.now() + input.ttlSeconds * 1000),
      consumed: false,
    };
    this.rows.set(row.id, row);
    return Promise.resolve(this.view(row));
  }

  findLive(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null> {
    const row = this.live((r) => r.tokenHash === tokenHash, maxAttempts);
    return Promise.resolve(row ? this.view(row) : null);
  }

  recordWrongCode(id: string, maxAttempts: number): Promise<number | null> {
    const row = this.live((r) => r.id === id, maxAttempts);
    if (!row) return Promise.resolve(null);
    row.attempts += 1;
    return Promise.resolve(row.attempts);
  }

  consume(tokenHash: string, maxAttempts: number): Promise<MfaChallenge | null> {
    const row = this.live((r) => r.tokenHash === tokenHash, maxAttempts);
    if (!row) return Promise.resolve(null);
    row.consumed = true;
    return Promise.resolve(this.view(row));
  }

  purgeExpired(opts: { graceSeconds: number; limit: number }): Promise<number> {
    const before = this.now() - opts.graceSeconds * 1000;
    const expired = [...this.rows.values()].filter((r) => r.expiresAt.getTime() < before).slice(0, opts.limit);
    for (const row of expired) this.rows.delete(row.id);
    return Promise.resolve(expired.length);
  }

  private live(match: (row: ChallengeRow) => boolean, maxAttempts: number): ChallengeRow | undefined {
    return [...this.rows.values()].find((r) => match(r) && !r.consumed && r.expiresAt.getTime() > this.now() && r.attempts < maxAttempts);
  }

  private view(row: ChallengeRow): MfaChallenge {
    const { tokenHash: _hash, consumed: _consumed, ...challenge } = row;
    return { ...challenge, loginContext: structuredClone(row.loginContext) };
  }
}

export class InMemoryMfaLockoutRepository implements MfaLockoutRepository {
  private readonly rows = new Map<string, { failures: number; lockedUntil: number | null }>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  countAttempt(userId: string, limit: number, seconds: number): Promise<CountedMfaAttempt> {
    const now = this.now();
    const row = this.rows.get(userId);
    if (row?.lockedUntil && row.lockedUntil > now) return Promise.resolve({ number: null, lockedUntil: new Date(row.lockedUntil) });
    const failures = !row || row.lockedUntil !== null ? 1 : row.failures + 1;
    const lockedUntil = failures >= limit ? now + seconds * 1000 : null;
    this.rows.set(userId, { failures, lockedUntil });
    return Promise.resolve({ number: failures, lockedUntil: lockedUntil === null ? null : new Date(lockedUntil) });
  }

  lockedUntil(userId: string): Promise<Date | null> {
    const until = this.rows.get(userId)?.lockedUntil;
    return Promise.resolve(until && until > this.now() ? new Date(until) : null);
  }

  clear(userId: string): Promise<void> {
    this.rows.delete(userId);
    return Promise.resolve();
  }
}

export class InMemoryMfaEncryptionKeysRepository implements MfaEncryptionKeysRepository {
  private rows: StoredEncryptionKey[] = [];

  findAll(): Promise<StoredEncryptionKey[]> {
    return Promise.resolve(
      [...this.rows].sort((a, b) => Number(b.current) - Number(a.current)).map((r) => ({ ...r, key: Buffer.from(r.key) })),
    );
  }

  insertCurrentIfNone(key: { kid: string; key: Buffer }): Promise<boolean> {
    if (this.rows.some((r) => r.current || r.kid === key.kid)) return Promise.resolve(false);
    this.rows.push({ kid: key.kid, key: Buffer.from(key.key), current: true });
    return Promise.resolve(true);
  }
}
