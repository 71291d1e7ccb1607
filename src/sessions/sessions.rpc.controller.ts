import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import { ApiMessagePattern } from '../platform/openapi/api-message-pattern.js';
import { Public } from '../shared/access/decorators.js';
import { ErrorCode } from '../shared/errors/app-error.js';
import { RevokedReply, SessionResponse } from './dto/session.response.js';
import { SessionIdDto, SessionsOfUserDto } from './dto/sessions.dto.js';
import { PublicSession, SessionsService } from './sessions.service.js';

/** Trusted callers only (private network): these patterns take ids, not tokens. */
@Public()
@Controller()
export class SessionsRpcController {
  constructor(private readonly sessions: SessionsService) {}

  @ApiMessagePattern({
    summary: 'The live sessions of a user (current is always false)',
    reply: { arrayOf: SessionResponse },
    errors: [ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('sessions.list')
  list(@Payload() dto: SessionsOfUserDto): Promise<PublicSession[]> {
    return this.sessions.listLive(dto.userId);
  }

  @ApiMessagePattern({
    summary: 'End a session by id',
    reply: RevokedReply,
    errors: [{ code: ErrorCode.NOT_FOUND, when: 'no live session has this id' }, ErrorCode.SERVICE_UNAVAILABLE],
  })
  @MessagePattern('sessions.revoke')
  async revoke(@Payload() dto: SessionIdDto): Promise<{ revoked: true }> {
    await this.sessions.revokeExisting(dto.sessionId, 'revoked_by_service');
    return { revoked: true };
  }
}
