import { Injectable } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, QueryFailedError, Repository } from 'typeorm';
import { AppError, ErrorCode } from '../shared/errors/app-error.js';
import { AUTH_CHANGES_CHANNEL, USER_CHANGED, type UserChangedEvent } from '../events/auth-changes.js';
import { notFound } from '../shared/errors/app-error.js';
import { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor } from '../shared/paging.js';
import { DomainEvents } from '../events/domain-events.service.js';
import { USER_ACTIVATED, USER_DEACTIVATED, USER_ROLES_CHANGED } from '../events/events.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { normalizeEmail, normalizeUsername } from '../shared/validation/normalize.js';
import { UserEntity } from './user.entity.js';

export interface NewUser {
  email: string;
  username?: string;
  passwordHash: string;
  emailVerified?: boolean;
  roles?: string[];
}

const UNIQUE_VIOLATION = '23505';

@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly events: EventEmitter2,
    private readonly domainEvents: DomainEvents,
  ) {}

  /** The repository, or the one of the caller's transaction (inside which every query must run). */
  private repo(em?: EntityManager): Repository<UserEntity> {
    return em ? em.getRepository(UserEntity) : this.users;
  }

  findById(id: string, em?: EntityManager): Promise<UserEntity | null> {
    return this.repo(em).findOneBy({ id });
  }

  findByEmail(email: string, em?: EntityManager): Promise<UserEntity | null> {
    return this.repo(em).findOneBy({ email: normalizeEmail(email) });
  }

  /** For re-checking the current password of a signed-in user. */
  findByIdWithPassword(id: string): Promise<UserEntity | null> {
    return this.users.createQueryBuilder('u').addSelect('u.passwordHash').where('u.id = :id', { id }).getOne();
  }

  /** Sets a new hash; with `expectedHash`, only if the password is still the one just checked. */
  updatePasswordHash(em: EntityManager, userId: string, passwordHash: string, expectedHash?: string): Promise<boolean> {
    return expectedHash === undefined
      ? this.updateAnnounced(em, userId, `password_hash = $2`, [passwordHash])
      : this.updateAnnounced(em, userId, `password_hash = $2`, [passwordHash], `password_hash = $3`, [expectedHash]);
  }

  /** The user row, locked for the rest of the transaction, with whether its password is voided. */
  async lockForUpdate(em: EntityManager, userId: string): Promise<{ email: string; emailVerified: boolean; deactivated: boolean; passwordVoided: boolean } | null> {
    const rows: Array<{ email: string; email_verified: boolean; deactivated: boolean; voided: boolean }> = await em.query(
      `SELECT email, email_verified, deactivated_at IS NOT NULL AS deactivated, password_hash IS NULL AS voided FROM users WHERE id = $1 FOR UPDATE`,
      [userId],
    );
    const row = rows[0];
    return row ? { email: row.email, emailVerified: row.email_verified, deactivated: row.deactivated, passwordVoided: row.voided } : null;
  }

  /**
   * Marks the address verified if it is still the user's address, setting the password when one is
   * given; null when the address is no longer the user's.
   */
  async markEmailVerified(em: EntityManager, userId: string, email: string, passwordHash?: string): Promise<UserEntity | null> {
    const changed = await this.updateAnnounced(em, userId, `email_verified = true, password_hash = coalesce($2, password_hash)`, [passwordHash ?? null], `email = $3`, [email]);
    return changed ? this.findById(userId, em) : null;
  }

  /**
   * A second sign-up claimed this unverified address: neither claimant's choices stand. The password
   * (and the username the first claimant took) are voided until the mailbox owner verifies.
   */
  voidUnverifiedClaims(em: EntityManager, userId: string): Promise<boolean> {
    return this.updateAnnounced(em, userId, `password_hash = NULL, username = NULL`, [], `email_verified = false`, []);
  }

  /** Admin listing, newest first, with an opaque cursor; email and username match exactly after normalisation. */
  async list(q: { email?: string; username?: string; limit?: number; cursor?: string }): Promise<{ items: PublicUser[]; nextCursor: string | null }> {
    const limit = q.limit ?? DEFAULT_PAGE_SIZE;
    // Ordered on millisecond times: the cursor carries a JavaScript Date, PostgreSQL keeps microseconds.
    const query = this.users.createQueryBuilder('u')
      .orderBy(`date_trunc('milliseconds', u.created_at)`, 'DESC')
      .addOrderBy('u.id', 'DESC')
      .limit(limit + 1);
    if (q.email !== undefined) query.andWhere('u.email = :email', { email: normalizeEmail(q.email) });
    if (q.username !== undefined) query.andWhere('u.username = :username', { username: normalizeUsername(q.username) });
    if (q.cursor !== undefined) {
      const { at, id } = decodeCursor(q.cursor);
      query.andWhere(`(date_trunc('milliseconds', u.created_at), u.id) < (:at::timestamptz, :id::uuid)`, { at, id });
    }
    const rows = await query.getMany();
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items: items.map(toPublicUser), nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt.toISOString(), last.id) : null };
  }

  /**
   * Deactivates or re-activates an account. Deactivation is awaited by its listeners (every session
   * of the user is revoked) before this returns; login then answers USER_DEACTIVATED.
   */
  async setDeactivated(id: string, deactivated: boolean, actorId?: string): Promise<UserEntity> {
    const changed = await this.dataSource().transaction((em) =>
      this.updateAnnounced(em, id, deactivated ? `deactivated_at = coalesce(deactivated_at, now())` : `deactivated_at = NULL`, []));
    if (!changed) throw notFound('user not found');
    // Awaited: the user's sessions are all revoked before this answers.
    await this.domainEvents.publishAndWait(deactivated ? USER_DEACTIVATED : USER_ACTIVATED, { userId: id, actorId });
    const user = await this.findById(id);
    if (!user) throw notFound('user not found');
    return user;
  }

  async setRoles(id: string, roles: string[], actorId?: string): Promise<UserEntity> {
    const changed = await this.dataSource().transaction((em) => this.updateAnnounced(em, id, `roles = $2`, [roles]));
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
  async importUsers(list: Array<{ email: string; username?: string; passwordHash: string; emailVerified?: boolean; roles?: string[] }>): Promise<{
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
    const before = await this.dataSource().transaction(async (em) => {
      const rows: Array<{ roles: string[] }> = await em.query(`SELECT roles FROM users WHERE id = $1 FOR UPDATE`, [id]);
      await this.updateAnnounced(em, id,
        `roles = CASE WHEN 'admin' = ANY(roles) THEN roles ELSE roles || '{admin}'::text[] END, email_verified = true, password_hash = coalesce($2, password_hash)`,
        [passwordHash ?? null]);
      return rows[0];
    });
    if (before && !before.roles.includes('admin')) {
      this.domainEvents.publish('user.roles_changed', { userId: id, details: { roles: [...before.roles, 'admin'], reason: 'bootstrap_admin' } });
    }
  }

  findByUsername(username: string, em?: EntityManager): Promise<UserEntity | null> {
    return this.repo(em).findOneBy({ username: normalizeUsername(username) });
  }

  private dataSource(): Repository<UserEntity>['manager'] {
    return this.users.manager;
  }

  /**
   * Updates one user and announces the change to every instance in the same statement (their
   * caches of authenticated state drop the user), and to this one at once.
   */
  private async updateAnnounced(em: EntityManager, userId: string, set: string, setParams: unknown[], where = 'true', whereParams: unknown[] = []): Promise<boolean> {
    const rows: unknown[] = await em.query(
      `WITH changed AS (UPDATE users SET ${set}, updated_at = now() WHERE id = $1 AND ${where} RETURNING id)
       SELECT id, pg_notify('${AUTH_CHANGES_CHANNEL}', 'user:' || id) FROM changed`,
      [userId, ...setParams, ...whereParams],
    );
    if (rows.length > 0) this.events.emit(USER_CHANGED, { userId } satisfies UserChangedEvent);
    return rows.length > 0;
  }

  /** The one query that reads the password hash: for checking a password at login. */
  findByLoginWithPassword(login: { email?: string; username?: string }): Promise<UserEntity | null> {
    const query = this.users.createQueryBuilder('u').addSelect('u.passwordHash');
    if (login.email !== undefined) query.where('u.email = :email', { email: normalizeEmail(login.email) });
    else query.where('u.username = :username', { username: normalizeUsername(login.username ?? '') });
    return query.getOne();
  }

  /**
   * Inserts a user; the unique indexes decide races, so two concurrent sign-ups of one address give
   * one row and one EMAIL_TAKEN. A single INSERT leaves nothing half-written on failure.
   */
  async create(input: NewUser, em?: EntityManager): Promise<UserEntity> {
    const repo = this.repo(em);
    const user = repo.create({
      email: normalizeEmail(input.email),
      username: input.username === undefined ? null : normalizeUsername(input.username),
      passwordHash: input.passwordHash,
      emailVerified: input.emailVerified ?? false,
      roles: input.roles ?? ['user'],
      deactivatedAt: null,
    });
    try {
      // insert() fills in the generated id and timestamps on the entity.
      await repo.insert(user);
      return user;
    } catch (error) {
      throw uniqueViolationToAppError(error) ?? error;
    }
  }
}

function uniqueViolationToAppError(error: unknown): AppError | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driver = error.driverError as { code?: string; constraint?: string };
  if (driver.code !== UNIQUE_VIOLATION) return undefined;
  if (driver.constraint === 'users_username_key') return new AppError(ErrorCode.USERNAME_TAKEN, 'username is taken');
  return new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered');
}
