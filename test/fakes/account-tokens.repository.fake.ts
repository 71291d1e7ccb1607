import type {
  AccountTokenKind,
  AccountTokenOwner,
  AccountTokensRepository,
  ClaimedAccountToken,
  NewAccountToken,
} from '../../src/auth/account-tokens.repository';
import type { Tx } from '../../src/platform/database/transactions';
import { sha256Hex } from '../../src/shared/crypto';
import type { UsersRepository } from '../../src/users/users.repository';

interface StoredToken {
  kind: AccountTokenKind;
  userId: string;
  email: string;
  expiresAt: number;
  used: boolean;
}

/**
 * AccountTokensRepository in memory, held to PostgreSQL's behaviour by the contract suite. Owners are
 * read from the users repository it is given, as the table joins users.
 */
export class InMemoryAccountTokensRepository implements AccountTokensRepository {
  /** Keyed by kind and hash: as the tables, it never holds a token itself. */
  private readonly tokens = new Map<string, StoredToken>();

  constructor(private readonly users: UsersRepository) {}

  issue(kind: AccountTokenKind, token: string, grant: NewAccountToken, _tx?: Tx): Promise<void> {
    this.tokens.set(key(kind, token), {
      kind,
      userId: grant.userId,
      email: grant.email,
      expiresAt: Date.now() + grant.ttlSeconds * 1000,
      used: false,
    });
    return Promise.resolve();
  }

  claim(kind: AccountTokenKind, token: string, _tx?: Tx): Promise<ClaimedAccountToken | null> {
    const stored = this.live(kind, token);
    if (!stored) return Promise.resolve(null);
    stored.used = true;
    return Promise.resolve({ userId: stored.userId, email: stored.email });
  }

  voidAllForUser(kind: AccountTokenKind, userId: string, _tx?: Tx): Promise<number> {
    let voided = 0;
    for (const stored of this.tokens.values()) {
      if (stored.kind !== kind || stored.userId !== userId || stored.used) continue;
      stored.used = true;
      voided += 1;
    }
    return Promise.resolve(voided);
  }

  async findOwner(kind: AccountTokenKind, token: string, tx?: Tx): Promise<AccountTokenOwner | null> {
    const stored = this.live(kind, token);
    const user = stored && (await this.users.findById(stored.userId, tx));
    return user ? { email: user.email, username: user.username } : null;
  }

  private live(kind: AccountTokenKind, token: string): StoredToken | undefined {
    const stored = this.tokens.get(key(kind, token));
    return stored && !stored.used && stored.expiresAt > Date.now() ? stored : undefined;
  }
}

function key(kind: AccountTokenKind, token: string): string {
  return `${kind}:${sha256Hex(token)}`;
}
