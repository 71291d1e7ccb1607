import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import type { AuthContext } from '../auth/auth-context.js';
import { CurrentAuth } from '../auth/current-auth.decorator.js';
import { PublicSession, SessionsService } from './sessions.service.js';

@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  @Get()
  list(@CurrentAuth() auth: AuthContext): Promise<PublicSession[]> {
    return this.sessions.listLive(auth.userId, auth.sessionId);
  }

  @Delete(':id')
  @HttpCode(204)
  async revokeOne(@CurrentAuth() auth: AuthContext, @Param('id') id: string): Promise<void> {
    await this.sessions.revokeOwn(auth.userId, id);
  }

  @Delete()
  @HttpCode(204)
  async revokeOthers(@CurrentAuth() auth: AuthContext): Promise<void> {
    await this.sessions.revokeAllForUser(auth.userId, { exceptSessionId: auth.sessionId, reason: 'revoked_by_user' });
  }
}
