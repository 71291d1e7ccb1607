import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryFailedError, type Repository } from 'typeorm';

import { AUTH_CHANGES_CHANNEL } from '../events/auth-changes.js';
import type { Tx } from '../platform/database/transactions.js';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { UserEntity } from './user.entity.js';

/** A user to insert; email and username already normalised. */
export interface NewUserRecord {
  email: string;
  username: string | null;
  passwordHash: string;
  emailVerified: boolean;
  roles: string[];
}

/** A profile update: only the fields present change. */
export interface ProfileChanges {
  username?: string | null;
  displayName?: string | null;
}

/** What verification and reset decide on, read under a row lock. */
export interface LockedAccountState {
  email: string;
  emailVerified: boolean;
  deactivated: boolean;
  passwordVoided: boolean;
}

/** A keyset page position: the creation time (milliseconds) and id of the last user seen. */
export interface UserListPosition {
  at: string;
  id: string;
}

export interface UserListFilter {
  email?: string;
  username?: string;
  limit: number;
  after?: UserListPosition;
}

/**
 * The users aggregate. Lookups take normalised values and match them exactly. Reads leave
 * `passwordHash` undefined except the `…WithPassword` ones. Every update that changes a user
 * returns whether a row changed, and announces `user:<id>` on the auth-changes channel in the
 * same statement, so every instance drops its cached state of the user when (and only if) it commits.
 * Methods take the caller's transaction as their last argument; it is required where the method
 * locks rows.
 */
export abstract class UsersRepository {
  abstract findById(id: string, tx?: Tx): Promise<UserEntity | null>;
  abstract findByEmail(email: string, tx?: Tx): Promise<UserEntity | null>;
  abstract findByUsername(username: string, tx?: Tx): Promise<UserEntity | null>;
  abstract findByIdWithPassword(id: string, tx?: Tx): Promise<UserEntity | null>;
  abstract findByEmailWithPassword(email: string, tx?: Tx): Promise<UserEntity | null>;
  abstract findByUsernameWithPassword(username: string, tx?: Tx): Promise<UserEntity | null>;

  /** Newest first (creation time to the millisecond, then id, both descending); up to `limit` users after `after`. */
  abstract list(filter: UserListFilter): Promise<{ items: UserEntity[]; hasMore: boolean }>;

  /** Inserts one user; a taken address or username rejects with EMAIL_TAKEN or USERNAME_TAKEN. */
  abstract insert(user: NewUserRecord, tx?: Tx): Promise<UserEntity>;

  /** The account's state, its row locked until the transaction ends; null when there is no such user. */
  abstract lockAccountState(userId: string, tx: Tx): Promise<LockedAccountState | null>;

  /** Sets a new hash; with `expectedHash`, only if the stored hash is still that one. */
  abstract setPasswordHash(userId: string, passwordHash: string, opts: { expectedHash?: string }, tx?: Tx): Promise<boolean>;

  /** Marks the address verified, only if `email` is still the user's address; sets the password when one is given. */
  abstract markEmailVerified(userId: string, email: string, passwordHash: string | undefined, tx?: Tx): Promise<boolean>;

  /** Voids the password and the username of an unverified account; nothing changes once it is verified. */
  abstract voidUnverifiedClaims(userId: string, tx?: Tx): Promise<boolean>;

  /**
   * Sets the fields given (a null clears the display name or username); a taken username rejects
   * with USERNAME_TAKEN. False when there is no such user or it is being erased.
   */
  abstract updateProfile(userId: string, changes: ProfileChanges, tx?: Tx): Promise<boolean>;

  /**
   * Makes `email` (normalised) the user's login, verified, unless the account is deactivated or being
   * erased (false); an address another account holds rejects with EMAIL_TAKEN.
   */
  abstract changeEmail(userId: string, email: string, tx: Tx): Promise<boolean>;

  /**
   * Marks the account for erasure after `graceSeconds` and deactivates it; the erasure time, or null
   * when there is no such user or it was already marked.
   */
  abstract scheduleErasure(userId: string, graceSeconds: number, tx: Tx): Promise<Date | null>;

  /**
   * Admins other than this user who can still sign in (active, not being erased), counted under a
   * lock held until the transaction ends, so concurrent callers count one after the other.
   */
  abstract countOtherActiveAdmins(userId: string, tx: Tx): Promise<number>;

  /** Deactivation keeps the first deactivation time; re-activation clears it, except on an account being erased. */
  abstract setDeactivated(userId: string, deactivated: boolean, tx?: Tx): Promise<boolean>;

  abstract setRoles(userId: string, roles: string[], tx?: Tx): Promise<boolean>;

  /**
   * Adds the admin role (once), marks the address verified and sets the password when one is given;
   * the roles it had before, read under a row lock, or null when there is no such user.
   */
  abstract grantAdmin(userId: string, opts: { passwordHash?: string }, tx: Tx): Promise<{ rolesBefore: string[] } | null>;
}

const UNIQUE_VIOLATION = '23505';

/** A users row as the driver returns it. */
interface UserRow {
  id: string;
  email: string;
  username: string | null;
  display_name: string | null;
  password_hash: string | null;
  email_verified: boolean;
  roles: string[];
  mfa_enabled: boolean;
  deactivated_at: Date | null;
  erase_after: Date | null;
  created_at: Date;
  updated_at: Date;
}

@Injectable()
export class PgUsersRepository implements UsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The table, or the caller's transaction's view of it (inside which every query must run). */
  private users(tx?: Tx): Repository<UserEntity> {
    return (tx ?? this.dataSource.manager).getRepository(UserEntity);
  }

  findById(id: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users(tx).findOneBy({ id });
  }

  findByEmail(email: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users(tx).findOneBy({ email });
  }

  findByUsername(username: string, tx?: Tx): Promise<UserEntity | null> {
    return this.users(tx).findOneBy({ username });
  }

  findByIdWithPassword(id: string, tx?: Tx): Promise<UserEntity | null> {
    return this.findOneWithPassword('id', id, tx);
  }

  findByEmailWithPassword(email: string, tx?: Tx): Promise<UserEntity | null> {
    return this.findOneWithPassword('email', email, tx);
  }

  findByUsernameWithPassword(username: string, tx?: Tx): Promise<UserEntity | null> {
    return this.findOneWithPassword('username', username, tx);
  }

  async list(filter: UserListFilter): Promise<{ items: UserEntity[]; hasMore: boolean }> {
    // Ordered on millisecond times: the position carries a JavaScript Date, PostgreSQL keeps microseconds.
    const query = this.users()
      .createQueryBuilder('u')
      .orderBy(`date_trunc('milliseconds', u.created_at)`, 'DESC')
      .addOrderBy('u.id', 'DESC')
      .limit(filter.limit + 1);
    if (filter.email !== undefined) query.andWhere('u.email = :email', { email: filter.email });
    if (filter.username !== undefined) query.andWhere('u.username = :username', { username: filter.username });
    if (filter.after !== undefined) {
      query.andWhere(`(date_trunc('milliseconds', u.created_at), u.id) < (:at::timestamptz, :id::uuid)`, filter.after);
    }
    const rows = await query.getMany();
    return { items: rows.slice(0, filter.limit), hasMore: rows.length > filter.limit };
  }

  /** The unique indexes decide races: two concurrent inserts of one address give one row and one EMAIL_TAKEN. */
  async insert(input: NewUserRecord, tx?: Tx): Promise<UserEntity> {
    const users = this.users(tx);
    const user = users.create({ ...input, displayName: null, mfaEnabled: false, deactivatedAt: null, eraseAfter: null });
    try {
      // insert() fills in the generated id and timestamps on the entity.
      await users.insert(user);
      return user;
    } catch (error) {
      throw uniqueViolationToAppError(error) ?? error;
    }
  }

  async lockAccountState(userId: string, tx: Tx): Promise<LockedAccountState | null> {
    const rows: Array<{ email: string; email_verified: boolean; deactivated: boolean; voided: boolean }> = await tx.query(
      `SELECT email, email_verified, deactivated_at IS NOT NULL AS deactivated, password_hash IS NULL AS voided FROM users WHERE id = $1 FOR UPDATE`,
      [userId],
    );
    const row = rows[0];
    return row ? { email: row.email, emailVerified: row.email_verified, deactivated: row.deactivated, passwordVoided: row.voided } : null;
  }

  setPasswordHash(userId: string, passwordHash: string, opts: { expectedHash?: string }, tx?: Tx): Promise<boolean> {
    return opts.expectedHash === undefined
      ? this.updateAnnounced(tx, userId, `password_hash = $2`, [passwordHash])
      : this.updateAnnounced(tx, userId, `password_hash = $2`, [passwordHash], `password_hash = $3`, [opts.expectedHash]);
  }

  markEmailVerified(userId: string, email: string, passwordHash: string | undefined, tx?: Tx): Promise<boolean> {
    return this.updateAnnounced(
      tx,
      userId,
      `email_verified = true, password_hash = coalesce($2, password_hash)`,
      [passwordHash ?? null],
      `email = $3`,
      [email],
    );
  }

  voidUnverifiedClaims(userId: string, tx?: Tx): Promise<boolean> {
    return this.updateAnnounced(tx, userId, `password_hash = NULL, username = NULL`, [], `email_verified = false`, []);
  }

  setDeactivated(userId: string, deactivated: boolean, tx?: Tx): Promise<boolean> {
    return deactivated
      ? this.updateAnnounced(tx, userId, `deactivated_at = coalesce(deactivated_at, now())`, [])
      : this.updateAnnounced(tx, userId, `deactivated_at = NULL`, [], `erase_after IS NULL`, []);
  }

  async updateProfile(userId: string, changes: ProfileChanges, tx?: Tx): Promise<boolean> {
    const set: string[] = [];
    const params: unknown[] = [];
    // Fixed column names; only the values come from the caller.
    if (changes.username !== undefined) set.push(`username = $${params.push(changes.username) + 1}`);
    if (changes.displayName !== undefined) set.push(`display_name = $${params.push(changes.displayName) + 1}`);
    if (set.length === 0) set.push('username = username');
    try {
      return await this.updateAnnounced(tx, userId, set.join(', '), params, `erase_after IS NULL`, []);
    } catch (error) {
      throw uniqueViolationToAppError(error) ?? error;
    }
  }

  async changeEmail(userId: string, email: string, tx: Tx): Promise<boolean> {
    try {
      return await this.updateAnnounced(
        tx,
        userId,
        `email = $2, email_verified = true`,
        [email],
        `deactivated_at IS NULL AND erase_after IS NULL`,
        [],
      );
    } catch (error) {
      throw uniqueViolationToAppError(error) ?? error;
    }
  }

  async scheduleErasure(userId: string, graceSeconds: number, tx: Tx): Promise<Date | null> {
    const changed = await this.updateAnnounced(
      tx,
      userId,
      `erase_after = now() + make_interval(secs => $2), deactivated_at = coalesce(deactivated_at, now())`,
      [graceSeconds],
      `erase_after IS NULL`,
      [],
    );
    if (!changed) return null;
    return (await this.users(tx).findOneBy({ id: userId }))?.eraseAfter ?? null;
  }

  async countOtherActiveAdmins(userId: string, tx: Tx): Promise<number> {
    // Held until the transaction ends: two admins deleting themselves at once are counted one after the other.
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('gatehouse:active-admins', 0))`);
    const rows: Array<{ n: number }> = await tx.query(
      `SELECT count(*)::int AS n FROM users
        WHERE 'admin' = ANY(roles) AND id <> $1 AND deactivated_at IS NULL AND erase_after IS NULL`,
      [userId],
    );
    return rows[0]?.n ?? 0;
  }

  setRoles(userId: string, roles: string[], tx?: Tx): Promise<boolean> {
    return this.updateAnnounced(tx, userId, `roles = $2`, [roles]);
  }

  async grantAdmin(userId: string, opts: { passwordHash?: string }, tx: Tx): Promise<{ rolesBefore: string[] } | null> {
    const rows: Array<{ roles: string[] }> = await tx.query(`SELECT roles FROM users WHERE id = $1 FOR UPDATE`, [userId]);
    await this.updateAnnounced(
      tx,
      userId,
      `roles = CASE WHEN 'admin' = ANY(roles) THEN roles ELSE roles || '{admin}'::text[] END, email_verified = true, password_hash = coalesce($2, password_hash)`,
      [opts.passwordHash ?? null],
    );
    const row = rows[0];
    return row ? { rolesBefore: row.roles } : null;
  }

  /** Every login runs this one: a plain statement, without the query builder's per-call work. */
  private async findOneWithPassword(column: 'id' | 'email' | 'username', value: string, tx?: Tx): Promise<UserEntity | null> {
    const rows: UserRow[] = await (tx ?? this.dataSource.manager).query(
      // An account being erased is not found: its login takes the unknown user's path, dummy hash and all.
      `SELECT id, email, username, display_name, password_hash, email_verified, roles, mfa_enabled, deactivated_at, erase_after,
              created_at, updated_at
         FROM users WHERE ${column} = $1 AND erase_after IS NULL`,
      [value],
    );
    const row = rows[0];
    if (!row) return null;
    return Object.assign(new UserEntity(), {
      id: row.id,
      email: row.email,
      username: row.username,
      displayName: row.display_name,
      passwordHash: row.password_hash,
      emailVerified: row.email_verified,
      roles: row.roles,
      mfaEnabled: row.mfa_enabled,
      deactivatedAt: row.deactivated_at,
      eraseAfter: row.erase_after,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }

  /** One UPDATE of one user that announces the change in the same statement. */
  private async updateAnnounced(
    tx: Tx | undefined,
    userId: string,
    set: string,
    setParams: unknown[],
    where = 'true',
    whereParams: unknown[] = [],
  ): Promise<boolean> {
    const rows: unknown[] = await (tx ?? this.dataSource.manager).query(
      `WITH changed AS (UPDATE users SET ${set}, updated_at = now() WHERE id = $1 AND ${where} RETURNING id)
       SELECT id, pg_notify('${AUTH_CHANGES_CHANNEL}', 'user:' || id) FROM changed`,
      [userId, ...setParams, ...whereParams],
    );
    return rows.length > 0;
  }
}

function uniqueViolationToAppError(error: unknown): AppError | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driver = error.driverError as { code?: string; constraint?: string };
  if (driver.code !== UNIQUE_VIOLATION) return undefined;
  if (driver.constraint === 'users_username_key') return new AppError(ErrorCode.USERNAME_TAKEN, 'username is taken');
  return new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered');
}
