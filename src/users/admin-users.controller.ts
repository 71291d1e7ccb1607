import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Put, Query } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/current-auth.decorator.js';
import { Roles } from '../auth/decorators.js';
import { notFound } from '../common/app-error.js';
import { ListUsersQueryDto, SetRolesDto } from './dto/admin-users.dto.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { UsersService } from './users.service.js';

// Any id that is not a UUID is simply not found.
const UserId = (): ParameterDecorator => Param('id', new ParseUUIDPipe({ exceptionFactory: () => notFound('user not found') }));

@Roles('admin')
@Controller('users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  list(@Query() query: ListUsersQueryDto): Promise<{ items: PublicUser[]; nextCursor: string | null }> {
    return this.users.list(query);
  }

  @Get(':id')
  async findOne(@UserId() id: string): Promise<{ user: PublicUser }> {
    const user = await this.users.findById(id);
    if (!user) throw notFound('user not found');
    return { user: toPublicUser(user) };
  }

  @Post(':id/deactivate')
  @HttpCode(204)
  async deactivate(@UserId() id: string, @CurrentAuth() auth: AuthContext): Promise<void> {
    await this.users.setDeactivated(id, true, auth.userId);
  }

  @Post(':id/activate')
  @HttpCode(204)
  async activate(@UserId() id: string, @CurrentAuth() auth: AuthContext): Promise<void> {
    await this.users.setDeactivated(id, false, auth.userId);
  }

  @Put(':id/roles')
  async setRoles(@UserId() id: string, @Body() dto: SetRolesDto): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setRoles(id, dto.roles)) };
  }
}
