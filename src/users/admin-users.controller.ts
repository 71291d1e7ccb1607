import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Put, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';

import { ApiAdmin, ApiErrors, BODY_ERRORS, type DocumentedError } from '../platform/openapi/api-errors.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { Roles } from '../shared/access/decorators.js';
import { ErrorCode, notFound } from '../shared/errors/app-error.js';
import { ListUsersQueryDto, SetRolesDto } from './dto/admin-users.dto.js';
import { UserEnvelope, UserPage } from './dto/user.response.js';
import { PublicUser, toPublicUser } from './user.mapper.js';
import { UsersService } from './users.service.js';

// Any id that is not a UUID is simply not found.
const UserId = (): ParameterDecorator => Param('id', new ParseUUIDPipe({ exceptionFactory: () => notFound('user not found') }));

const ID_PARAM = { name: 'id', format: 'uuid', description: "The user's id (anything else is not found)." };
const USER_NOT_FOUND: DocumentedError = { code: ErrorCode.NOT_FOUND, when: 'no user has this id', message: 'user not found' };

@ApiTags('users (admin)')
@Roles('admin')
@Controller('users')
export class AdminUsersController {
  constructor(private readonly users: UsersService) {}

  @ApiOperation({ summary: 'List users, newest first', description: '`email` and `username` match exactly after normalisation.' })
  @ApiOkResponse({ type: UserPage })
  @ApiAdmin()
  @ApiErrors(
    { code: ErrorCode.VALIDATION_FAILED, when: 'a query parameter is invalid (limit out of 1-100, malformed cursor or filter)' },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Get()
  list(@Query() query: ListUsersQueryDto): Promise<{ items: PublicUser[]; nextCursor: string | null }> {
    return this.users.list(query);
  }

  @ApiOperation({ summary: 'One user by id' })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: UserEnvelope })
  @ApiAdmin()
  @ApiErrors(USER_NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE)
  @Get(':id')
  async findOne(@UserId() id: string): Promise<{ user: PublicUser }> {
    const user = await this.users.findById(id);
    if (!user) throw notFound('user not found');
    return { user: toPublicUser(user) };
  }

  @ApiOperation({
    summary: 'Deactivate a user',
    description: 'Every session of the user is revoked before the answer; logins then answer USER_DEACTIVATED.',
  })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'Deactivated (also when it already was).' })
  @ApiAdmin()
  @ApiErrors(USER_NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE)
  @Post(':id/deactivate')
  @HttpCode(204)
  async deactivate(@UserId() id: string, @CurrentAuth() auth: AuthContext): Promise<void> {
    await this.users.setDeactivated(id, true, auth.userId);
  }

  @ApiOperation({ summary: 'Re-activate a user' })
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse({ description: 'Active (also when it already was).' })
  @ApiAdmin()
  @ApiErrors(USER_NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE)
  @Post(':id/activate')
  @HttpCode(204)
  async activate(@UserId() id: string, @CurrentAuth() auth: AuthContext): Promise<void> {
    await this.users.setDeactivated(id, false, auth.userId);
  }

  @ApiOperation({
    summary: "Replace a user's roles",
    description: 'Takes effect at once: roles are read with the live session, not from the token.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: UserEnvelope })
  @ApiAdmin()
  @ApiErrors(...BODY_ERRORS, USER_NOT_FOUND, ErrorCode.SERVICE_UNAVAILABLE)
  @Put(':id/roles')
  async setRoles(@UserId() id: string, @Body() dto: SetRolesDto, @CurrentAuth() auth: AuthContext): Promise<{ user: PublicUser }> {
    return { user: toPublicUser(await this.users.setRoles(id, dto.roles, auth.userId)) };
  }
}
