import { Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';

import { USER_CHANGED, type UserChangedEvent } from '../events/auth-changes.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { USER_ACTIVATED, USER_DEACTIVATED, USER_ROLES_CHANGED } from '../events/events.js';
import { Transactions, type Tx } from '../platform/database/transactions.js';
import { AppError, notFound } from '../shared/errors/app-error.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor } from '../shared/paging.js';
import { normalizeEmail, normalizeUsername } from '../shared/validation/normalize.js';
import type { UserEntity } from './user.entity.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { UsersRepository, type LockedAccountState, type ProfileChanges } from './users.repository.js';

export interface NewUser {
  email: string;
  username?: string;
  passwordHash: string;
  emailVerified?: boolean;
  roles?: string[];
}

@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly transactions: Transactions,
    private readonly events: EventEmitter2,
    private readonly domainEvents: DomainEvents,
  ) {}

  findById(id: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users.findById(id, tx);
  }

  findByEmail(email: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users.findByEmail(normalizeEmail(email), tx);
  }

  findByUsername(username: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users.findByUsername(normalizeUsername(username), tx);
  }

  /** For re-checking the current password of a signed-in user. */
  findByIdWithPassword(id: string): Promise<UserEntity | null> {
    return this.users.findByIdWithPassword(id);
  }

  /** The one lookup by login that reads the password hash: for checking a password at login. */
  findByLoginWithPassword(login: { email?: string; username?: string }): Promise<UserEntity | null> {
    return login.email !== undefined
      ? this.users.findByEmailWithPassword(normalizeEmail(login.email))
      : this.users.findByUsernameWithPassword(normalizeUsername(login.username ?? ''));
  }

  /** Sets a new hash; with `expectedHash`, only if the password is still the one just checked. */
  async updatePasswordHash(userId: string, passwordHash: string, expectedHash: string | undefined, tx: Tx): Promise<boolean> {
    return this.announced(userId, await this.users.setPasswordHash(userId, passwordHash, { expectedHash }, tx));
  }

  /** The user row, locked for the rest of the transaction, with whether its password is voided. */
  lockForUpdate(userId: string, tx: Tx): Promise<LockedAccountState | null> {
    return this.users.lockAccountState(userId, tx);
  }

  /**
   * Marks the address verified if it is still the user's address, setting the password when one is
   * given; null when the address is no longer the user's.
   */
  async markEmailVerified(userId: string, email: string, passwordHash: string | undefined, tx: Tx): Promise<UserEntity | null> {
    const changed = this.announced(userId, await this.users.markEmailVerified(userId, email, passwordHash, tx));
    return changed ? this.users.findById(userId, tx) : null;
  }

  /**
   * A second sign-up claimed this unverified address: neither claimant's choices stand. The password
   * (and the username the first claimant took) are voided until the mailbox owner verifies.
   */
  async voidUnverifiedClaims(userId: string, tx: Tx): Promise<boolean> {
    return this.announced(userId, await this.users.voidUnverifiedClaims(userId, tx));
  }

  /**
   * Changes the caller's own profile (only the fields given); a taken username answers
   * USERNAME_TAKEN. Audited as user.updated naming the fields, never their values.
   */
  async updateProfile(userId: string, changes: ProfileChanges, sessionId?: string): Promise<UserEntity> {
    const fields = Object.keys(changes).filter((k) => changes[k as keyof ProfileChanges] !== undefined);
    if (fields.length === 0) {
      const unchanged = await this.findById(userId);
      if (!unchanged) throw notFound('user not found');
      return unchanged;
    }
    const changed = this.announced(userId, await this.users.updateProfile(userId, changes));
    if (!changed) throw notFound('user not found');
    const user = await this.findById(userId);
    if (!user) throw notFound('user not found');
    this.domainEvents.publish('user.updated', { userId, sessionId, details: { fields } });
    return user;
  }

  /** Makes a confirmed new address the login (verified); see UsersRepository.changeEmail. */
  async changeEmail(userId: string, email: string, tx: Tx): Promise<boolean> {
    return this.announced(userId, await this.users.changeEmail(userId, normalizeEmail(email), tx));
  }

  /** Deactivates the account and marks it for erasure; null when already marked or unknown. */
  async scheduleErasure(userId: string, graceSeconds: number, tx: Tx): Promise<Date | null> {
    const eraseAfter = await this.users.scheduleErasure(userId, graceSeconds, tx);
    this.announced(userId, eraseAfter !== null);
    return eraseAfter;
  }

  countOtherActiveAdmins(userId: string, tx: Tx): Promise<number> {
    return this.users.countOtherActiveAdmins(userId, tx);
  }

  /** Admin listing, newest first, with an opaque cursor; email and username match exactly after normalisation. */
  async list(q: {
    email?: string;
    username?: string;
    limit?: number;
    cursor?: string;
  }): Promise<{ items: PublicUser[]; nextCursor: string | null }> {
    const { items, hasMore } = await this.users.list({
      email: q.email === undefined ? undefined : normalizeEmail(q.email),
      username: q.username === undefined ? undefined : normalizeUsername(q.username),
      limit: q.limit ?? DEFAULT_PAGE_SIZE,
      after: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
    });
    const last = items[items.length - 1];
    return { items: items.map(toPublicUser), nextCursor: hasMore && last ? encodeCursor(last.createdAt.toISOString(), last.id) : null };
  }

  /**
   * Deactivates or re-activates an account. Deactivation is awaited by its listeners (every session
   * of the user is revoked) before this returns; login then answers USER_DEACTIVATED.
   */
  async setDeactivated(id: string, deactivated: boolean, actorId?: string): Promise<UserEntity> {
    const changed = await this.transactions.run(async (tx) => this.announced(id, await this.users.setDeactivated(id, deactivated, tx)));
    if (!changed) throw notFound('user not found');
    // Awaited: the user's sessions are all revoked before this answers.
    await this.domainEvents.publishAndWait(deactivated ? USER_DEACTIVATED : USER_ACTIVATED, { userId: id, actorId });
    const user = await this.findById(id);
    if (!user) throw notFound('user not found');
    return user;
  }

  async setRoles(id: string, roles: string[], actorId?: string): Promise<UserEntity> {
    const changed = await this.transactions.run(async (tx) => this.announced(id, await this.users.setRoles(id, roles, tx)));
    if (!changed) throw notFound('user not found');
    // Awaited: a demoted admin's impersonation sessions end before this answers.
    await this.events.emitAsync(USER_ROLES_CHANGED, { userId: id, roles });
    this.domainEvents.publish('user.roles_changed', { userId: id, actorId, details: { roles } });
    const user = await this.findById(id);
    if (!user) throw notFound('user not found');
    return user;
  }

  /**
   * Imports users with existing password hashes (bcrypt or argon2; replaced by argon2id at their
   * first login). Existing addresses and usernames are skipped, not changed.
   */
  async importUsers(
    list: Array<{ email: string; username?: string; passwordHash: string; emailVerified?: boolean; roles?: string[] }>,
  ): Promise<{
    imported: number;
    skipped: Array<{ email: string; code: string }>;
  }> {
    let imported = 0;
    const skipped: Array<{ email: string; code: string }> = [];
    for (const entry of list) {
      try {
        await this.create({ ...entry, roles: entry.roles ?? ['user'] });
        imported += 1;
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        skipped.push({ email: normalizeEmail(entry.email), code: error.code });
      }
    }
    return { imported, skipped };
  }

  /**
   * Adds the admin role and marks the address verified (bootstrap admin), optionally setting the
   * password. A grant is audited as a role change by no actor.
   */
  async ensureAdmin(id: string, passwordHash?: string): Promise<void> {
    const granted = await this.transactions.run(async (tx) => {
      const result = await this.users.grantAdmin(id, { passwordHash }, tx);
      this.announced(id, result !== null);
      return result;
    });
    if (granted && !granted.rolesBefore.includes('admin')) {
      this.domainEvents.publish('user.roles_changed', {
        userId: id,
        details: { roles: [...granted.rolesBefore, 'admin'], reason: 'bootstrap_admin' },
      });
    }
  }

  /**
   * Inserts a user; the unique indexes decide races, so two concurrent sign-ups of one address give
   * one row and one EMAIL_TAKEN. A single INSERT leaves nothing half-written on failure.
   */
  create(input: NewUser, tx?: Tx): Promise<UserEntity> {
    return this.users.insert(
      {
        email: normalizeEmail(input.email),
        username: input.username === undefined ? null : normalizeUsername(input.username),
        passwordHash: input.passwordHash,
        emailVerified: input.emailVerified ?? false,
        roles: input.roles ?? ['user'],
      },
      tx,
    );
  }

  /**
   * Every instance learnt of a change from the repository's notification; this one drops its cached
   * state of the user at once.
   */
  private announced(userId: string, changed: boolean): boolean {
    if (changed) this.events.emit(USER_CHANGED, { userId } satisfies UserChangedEvent);
    return changed;
  }
}
