import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';

import { ApiAuthenticated, ApiErrors } from '../platform/openapi/api-errors.js';
import type { AuthContext } from '../shared/access/auth-context.js';
import { CurrentAuth } from '../shared/access/current-auth.decorator.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { SessionResponse } from './dto/session.response.js';
import { PublicSession, SessionsService } from './sessions.service.js';

@ApiTags('sessions')
@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @ApiOperation({
    summary: "The caller's live sessions",
    description:
      'Newest first; `current` marks the session of this access token. An admin also sees the impersonation sessions it holds ' +
      '(`impersonatedUserId` names the user), and can end them with DELETE /sessions/:id.',
  })
  @ApiOkResponse({ type: [SessionResponse] })
  @ApiAuthenticated()
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  @Get()
  list(@CurrentAuth() auth: AuthContext): Promise<PublicSession[]> {
    return this.sessions.listLive(auth.userId, auth.sessionId);
  }

  @ApiOperation({ summary: "End one of the caller's sessions" })
  @ApiParam({ name: 'id', format: 'uuid', description: 'A session id from GET /sessions.' })
  @ApiNoContentResponse({ description: 'The session is revoked; its tokens stop working at once.' })
  @ApiAuthenticated()
  @ApiErrors(
    {
      code: ErrorCode.NOT_FOUND,
      when: "no live session of the caller has this id (another user's is not found either)",
      message: 'session not found',
    },
    ErrorCode.SERVICE_UNAVAILABLE,
  )
  @Delete(':id')
  @HttpCode(204)
  async revokeOne(@CurrentAuth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    await this.sessions.revokeOwn(auth, id);
  }

  @ApiOperation({ summary: 'End every session of the caller except the current one' })
  @ApiNoContentResponse({ description: 'The other sessions are revoked.' })
  @ApiAuthenticated()
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  @Delete()
  @HttpCode(204)
  async revokeOthers(@CurrentAuth() auth: AuthContext): Promise<void> {
    await this.sessions.revokeOthers(auth);
  }
}
