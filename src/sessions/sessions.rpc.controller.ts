import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { Public } from '../auth/decorators.js';
import { SessionIdDto, SessionsOfUserDto } from './dto/sessions.dto.js';
import { PublicSession, SessionsService } from './sessions.service.js';

/** Trusted callers only (private network): these patterns take ids, not tokens. */
@Public()
@Controller()
export class SessionsRpcController {
  constructor(private readonly sessions: SessionsService) {}

  @MessagePattern('sessions.list')
  list(@Payload() dto: SessionsOfUserDto): Promise<PublicSession[]> {
    return this.sessions.listLive(dto.userId);
  }

  @MessagePattern('sessions.revoke')
  async revoke(@Payload() dto: SessionIdDto): Promise<{ revoked: true }> {
    await this.sessions.revokeExisting(dto.sessionId, 'revoked_by_service');
    return { revoked: true };
  }
}
