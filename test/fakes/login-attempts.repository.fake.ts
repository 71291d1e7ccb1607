import type { CountedAttempt, LoginAttemptsRepository } from '../../src/protection/login-attempts.repository';

interface Row {
  failures: number;
  lockedUntil: number | null;
}

/** Login attempts in a map, on a clock the spec may move; passes the same contract as PostgreSQL's. */
export class InMemoryLoginAttemptsRepository implements LoginAttemptsRepository {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  countAttempt(input: { keys: string[]; first: string; account?: string; firstLimit: number }): Promise<CountedAttempt> {
    const now = this.now();
    const lockedFor = (row: Row | undefined): number =>
      row?.lockedUntil !== null && row?.lockedUntil !== undefined && row.lockedUntil > now ? Math.ceil((row.lockedUntil - now) / 1000) : 0;
    const lockedForSeconds = Math.max(0, ...input.keys.map((key) => lockedFor(this.rows.get(key))));
    if (lockedForSeconds > 0) return Promise.resolve({ counted: [], lockedForSeconds });
    const first = this.countOneMore(input.first, now);
    const counted = [{ key: input.first, failures: first.failures }];
    if (input.account !== undefined && first.failures <= input.firstLimit && lockedFor(first) === 0) {
      counted.push({ key: input.account, failures: this.countOneMore(input.account, now).failures });
    }
    return Promise.resolve({ counted, lockedForSeconds: 0 });
  }

  lock(key: string, seconds: number): Promise<boolean> {
    const now = this.now();
    const row = this.rows.get(key);
    if (!row || (row.lockedUntil !== null && row.lockedUntil > now)) return Promise.resolve(false);
    row.lockedUntil = now + seconds * 1000;
    return Promise.resolve(true);
  }

  clear(keys: string[]): Promise<void> {
    for (const key of keys) this.rows.delete(key);
    return Promise.resolve();
  }

  private countOneMore(key: string, now: number): Row {
    const row = this.rows.get(key);
    if (!row) {
      const fresh = { failures: 1, lockedUntil: null };
      this.rows.set(key, fresh);
      return fresh;
    }
    if (row.lockedUntil !== null && row.lockedUntil <= now) {
      row.failures = 1;
      row.lockedUntil = null;
    } else {
      row.failures += 1;
    }
    return row;
  }
}
