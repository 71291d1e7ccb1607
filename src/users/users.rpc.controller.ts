import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import { ApiMessagePattern } from '../platform/openapi/api-message-pattern.js';
import { Public } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { ImportUsersResult, UserEnvelope, UserResponse } from './dto/user.response.js';
import { ImportUsersDto, UserEmailDto, UserIdDto } from './dto/users.dto.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { UsersService } from './users.service.js';

/** Trusted callers only (private network). */
@Public()
@Controller()
export class UsersRpcController {
  constructor(private readonly users: UsersService) {}

  @ApiMessagePattern({ summary: 'A user by id, or null', reply: { nullable: UserResponse }, errors: [ErrorCode.SERVICE_UNAVAILABLE] })
  @MessagePattern('users.findById')
  async findById(@Payload() dto: UserIdDto): Promise<PublicUser | null> {
    const user = await this.users.findById(dto.id);
    return user ? toPublicUser(user) : null;
  }

  @ApiMessagePattern({
    summary: 'Deactivate a user; every session of the user ends first',
    reply: UserEnvelope,
    errors: [ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('users.deactivate')
  async deactivate(@Payload() dto: UserIdDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setDeactivated(dto.id, true)) };
  }

  @ApiMessagePattern({ summary: 'Re-activate a user', reply: UserEnvelope, errors: [ErrorCode.NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE] })
  @MessagePattern('users.activate')
  async activate(@Payload() dto: UserIdDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setDeactivated(dto.id, false)) };
  }

  /** Trusted callers only: users from another system, with their bcrypt or argon2 hashes. */
  @ApiMessagePattern({
    summary: 'Import users with their bcrypt or argon2 hashes (replaced by argon2id at their first login); taken addresses are skipped',
    reply: ImportUsersResult,
    errors: [ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('users.import')
  importUsers(@Payload() dto: ImportUsersDto): Promise<{ imported: number; skipped: Array<{ email: string; code: string }> }> {
    return this.users.importUsers(dto.users);
  }

  @ApiMessagePattern({
    summary: 'A user by email (normalised), or null',
    reply: { nullable: UserResponse },
    errors: [ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('users.findByEmail')
  async findByEmail(@Payload() dto: UserEmailDto): Promise<PublicUser | null> {
    const user = await this.users.findByEmail(dto.email);
    return user ? toPublicUser(user) : null;
  }
}
