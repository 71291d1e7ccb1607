import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { RevocationFeed } from './revocation-feed.service.js';
import { RefreshTokenEntity, SessionEntity } from './session.entity.js';
import { SessionsController } from './sessions.controller.js';
import { PgSessionsRepository, SessionsRepository } from './sessions.repository.js';
import { SessionsRpcController } from './sessions.rpc.controller.js';
import { SessionsService } from './sessions.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([SessionEntity, RefreshTokenEntity])],
  controllers: [SessionsController, SessionsRpcController],
  providers: [SessionsService, RevocationFeed, { provide: SessionsRepository, useClass: PgSessionsRepository }],
  exports: [SessionsService, RevocationFeed],
})
export class SessionsModule {}
