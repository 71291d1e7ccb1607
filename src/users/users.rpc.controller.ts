import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Public } from '../auth/decorators.js';
import { ImportUsersDto, UserEmailDto, UserIdDto } from './dto/users.dto.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { UsersService } from './users.service.js';

/** Trusted callers only (private network). */
@Public()
@Controller()
export class UsersRpcController {
  constructor(private readonly users: UsersService) {}

  @MessagePattern('users.findById')
  async findById(@Payload() dto: UserIdDto): Promise<PublicUser | null> {
    const user = await this.users.findById(dto.id);
    return user ? toPublicUser(user) : null;
  }

  @MessagePattern('users.deactivate')
  async deactivate(@Payload() dto: UserIdDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setDeactivated(dto.id, true)) };
  }

  @MessagePattern('users.activate')
  async activate(@Payload() dto: UserIdDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setDeactivated(dto.id, false)) };
  }

  /** Trusted callers only: users from another system, with their bcrypt or argon2 hashes. */
  @MessagePattern('users.import')
  importUsers(@Payload() dto: ImportUsersDto): Promise<{ imported: number; skipped: Array<{ email: string; code: string }> }> {
    return this.users.importUsers(dto.users);
  }

  @MessagePattern('users.findByEmail')
  async findByEmail(@Payload() dto: UserEmailDto): Promise<PublicUser | null> {
    const user = await this.users.findByEmail(dto.email);
    return user ? toPublicUser(user) : null;
  }
}
