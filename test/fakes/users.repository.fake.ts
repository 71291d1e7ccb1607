import { randomUUID } from 'node:crypto';

import type { Tx } from '../../src/platform/database/transactions';
import { AppError, ErrorCode } from '../../src/shared/errors/app-error';
import { UserEntity } from '../../src/users/user.entity';
import type { LockedAccountState, NewUserRecord, ProfileChanges, UserListFilter, UsersRepository } from '../../src/users/users.repository';

type StoredUser = UserEntity;

/**
 * UsersRepository in memory, for unit specs of the services above it; the contract suite holds it to
 * PostgreSQL's behaviour. Transactions are not modelled: nothing is rolled back, nothing locked.
 */
export class InMemoryUsersRepository implements UsersRepository {
  private readonly rows = new Map<string, StoredUser>();

  findById(id: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => this.publicCopy(this.rows.get(id)));
  }

  findByEmail(email: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => this.publicCopy(this.find((u) => u.email === email)));
  }

  findByUsername(username: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => this.publicCopy(this.find((u) => u.username === username)));
  }

  findByIdWithPassword(id: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => copy([this.rows.get(id)].find((u) => u?.eraseAfter === null)));
  }

  findByEmailWithPassword(email: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => copy(this.find((u) => u.email === email && u.eraseAfter === null)));
  }

  findByUsernameWithPassword(username: string, _tx?: Tx): Promise<UserEntity | null> {
    return settle(() => copy(this.find((u) => u.username === username && u.eraseAfter === null)));
  }

  list(filter: UserListFilter): Promise<{ items: UserEntity[]; hasMore: boolean }> {
    return settle(() => {
      const after = filter.after && { at: Date.parse(filter.after.at), id: filter.after.id };
      const rows = [...this.rows.values()]
        .filter((u) => filter.email === undefined || u.email === filter.email)
        .filter((u) => filter.username === undefined || u.username === filter.username)
        .filter((u) => !after || compareNewestFirst(u, after) > 0)
        .sort((a, b) => compareNewestFirst(a, { at: b.createdAt.getTime(), id: b.id }));
      return { items: rows.slice(0, filter.limit).map((u) => this.publicCopy(u)!), hasMore: rows.length > filter.limit };
    });
  }

  insert(input: NewUserRecord, _tx?: Tx): Promise<UserEntity> {
    return settle(() => {
      if (this.find((u) => u.email === input.email)) throw new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered');
      if (input.username !== null && this.find((u) => u.username === input.username))
        throw new AppError(ErrorCode.USERNAME_TAKEN, 'username is taken');
      const now = new Date();
      const user = Object.assign(new UserEntity(), {
        id: randomUUID(),
        ...input,
        roles: [...input.roles],
        displayName: null,
        mfaEnabled: false,
        deactivatedAt: null,
        eraseAfter: null,
        createdAt: now,
        updatedAt: now,
      });
      this.rows.set(user.id, user);
      return copy(user)!;
    });
  }

  lockAccountState(userId: string, _tx: Tx): Promise<LockedAccountState | null> {
    return settle(() => {
      const u = this.rows.get(userId);
      return u
        ? { email: u.email, emailVerified: u.emailVerified, deactivated: u.deactivatedAt !== null, passwordVoided: u.passwordHash === null }
        : null;
    });
  }

  setPasswordHash(userId: string, passwordHash: string, opts: { expectedHash?: string }, _tx?: Tx): Promise<boolean> {
    return this.update(
      userId,
      (u) => opts.expectedHash === undefined || u.passwordHash === opts.expectedHash,
      (u) => {
        u.passwordHash = passwordHash;
      },
    );
  }

  markEmailVerified(userId: string, email: string, passwordHash: string | undefined, _tx?: Tx): Promise<boolean> {
    return this.update(
      userId,
      (u) => u.email === email,
      (u) => {
        u.emailVerified = true;
        if (passwordHash !== undefined) u.passwordHash = passwordHash;
      },
    );
  }

  voidUnverifiedClaims(userId: string, _tx?: Tx): Promise<boolean> {
    return this.update(
      userId,
      (u) => !u.emailVerified,
      (u) => {
        u.passwordHash = null;
        u.username = null;
      },
    );
  }

  updateProfile(userId: string, changes: ProfileChanges, _tx?: Tx): Promise<boolean> {
    if (changes.username && this.find((u) => u.username === changes.username && u.id !== userId))
      return Promise.reject(new AppError(ErrorCode.USERNAME_TAKEN, 'username is taken'));
    return this.update(
      userId,
      (u) => u.eraseAfter === null,
      (u) => {
        if (changes.username !== undefined) u.username = changes.username;
        if (changes.displayName !== undefined) u.displayName = changes.displayName;
      },
    );
  }

  changeEmail(userId: string, email: string, _tx: Tx): Promise<boolean> {
    if (this.find((u) => u.email === email && u.id !== userId))
      return Promise.reject(new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered'));
    return this.update(
      userId,
      (u) => u.deactivatedAt === null && u.eraseAfter === null,
      (u) => {
        u.email = email;
        u.emailVerified = true;
      },
    );
  }

  async scheduleErasure(userId: string, graceSeconds: number, _tx: Tx): Promise<Date | null> {
    const eraseAfter = new Date(Date.now() + graceSeconds * 1000);
    const changed = await this.update(
      userId,
      (u) => u.eraseAfter === null,
      (u) => {
        u.eraseAfter = eraseAfter;
        u.deactivatedAt ??= new Date();
      },
    );
    return changed ? eraseAfter : null;
  }

  countOtherActiveAdmins(userId: string, _tx: Tx): Promise<number> {
    return settle(
      () =>
        [...this.rows.values()].filter(
          (u) => u.id !== userId && u.roles.includes('admin') && u.deactivatedAt === null && u.eraseAfter === null,
        ).length,
    );
  }

  setDeactivated(userId: string, deactivated: boolean, _tx?: Tx): Promise<boolean> {
    return this.update(
      userId,
      (u) => deactivated || u.eraseAfter === null,
      (u) => {
        u.deactivatedAt = deactivated ? (u.deactivatedAt ?? new Date()) : null;
      },
    );
  }

  setRoles(userId: string, roles: string[], _tx?: Tx): Promise<boolean> {
    return this.update(
      userId,
      () => true,
      (u) => {
        u.roles = [...roles];
      },
    );
  }

  async grantAdmin(userId: string, opts: { passwordHash?: string }, _tx: Tx): Promise<{ rolesBefore: string[] } | null> {
    const before = this.rows.get(userId)?.roles;
    const changed = await this.update(
      userId,
      () => true,
      (u) => {
        if (!u.roles.includes('admin')) u.roles = [...u.roles, 'admin'];
        u.emailVerified = true;
        if (opts.passwordHash !== undefined) u.passwordHash = opts.passwordHash;
      },
    );
    return changed && before ? { rolesBefore: [...before] } : null;
  }

  private find(match: (u: StoredUser) => boolean): StoredUser | undefined {
    return [...this.rows.values()].find(match);
  }

  private update(userId: string, when: (u: StoredUser) => boolean, change: (u: StoredUser) => void): Promise<boolean> {
    return settle(() => {
      const u = this.rows.get(userId);
      if (!u || !when(u)) return false;
      change(u);
      u.updatedAt = new Date();
      return true;
    });
  }

  /** As the table's reads give it: the hash is selected only where a password is checked. */
  private publicCopy(u: StoredUser | undefined): UserEntity | null {
    const user = copy(u);
    if (user) delete (user as Partial<UserEntity>).passwordHash;
    return user;
  }
}

/** The answer as a promise, a throw as a rejection, as a database call gives them. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

function copy(u: StoredUser | undefined): UserEntity | null {
  if (!u) return null;
  return Object.assign(new UserEntity(), {
    ...u,
    roles: [...u.roles],
    deactivatedAt: u.deactivatedAt && new Date(u.deactivatedAt),
    eraseAfter: u.eraseAfter && new Date(u.eraseAfter),
    createdAt: new Date(u.createdAt),
    updatedAt: new Date(u.updatedAt),
  });
}

/** Positive when `u` comes after `position` newest first: (creation millisecond, id) descending, as PostgreSQL orders uuids. */
function compareNewestFirst(u: StoredUser, position: { at: number; id: string }): number {
  const at = u.createdAt.getTime();
  if (at !== position.at) return position.at - at;
  return u.id < position.id ? 1 : u.id > position.id ? -1 : 0;
}
