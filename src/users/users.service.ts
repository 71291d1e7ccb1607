import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { QueryFailedError, Repository } from 'typeorm';
import { AppError, ErrorCode } from '../common/app-error.js';
import { normalizeEmail, normalizeUsername } from './normalize.js';
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
  constructor(@InjectRepository(UserEntity) private readonly users: Repository<UserEntity>) {}

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ id });
  }

  findByEmail(email: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ email: normalizeEmail(email) });
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
  async create(input: NewUser): Promise<UserEntity> {
    const user = this.users.create({
      email: normalizeEmail(input.email),
      username: input.username === undefined ? null : normalizeUsername(input.username),
      passwordHash: input.passwordHash,
      emailVerified: input.emailVerified ?? false,
      roles: input.roles ?? ['user'],
      deactivatedAt: null,
    });
    try {
      // insert() fills in the generated id and timestamps on the entity.
      await this.users.insert(user);
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
