import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { TypeOrmModule } from '@nestjs/typeorm';

import { AccessTokensService } from './access-tokens.service.js';
import { JwksController } from './jwks.controller.js';
import { SigningKeyEntity } from './signing-key.entity.js';
import { PgSigningKeysRepository, SigningKeysRepository } from './signing-keys.repository.js';
import { SigningKeysService } from './signing-keys.service.js';

/** Signing keys (generated, rotated, retired), the JWKS, and the access tokens they sign. */
@Module({
  imports: [
    TypeOrmModule.forFeature([SigningKeyEntity]),
    // Keys are passed per call (KeyObjects from SigningKeysService), never configured globally.
    JwtModule.register({}),
  ],
  controllers: [JwksController],
  providers: [SigningKeysService, AccessTokensService, { provide: SigningKeysRepository, useClass: PgSigningKeysRepository }],
  exports: [SigningKeysService, AccessTokensService],
})
export class TokensModule {}
