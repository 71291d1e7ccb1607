import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { AdminUsersController } from './admin-users.controller.js';
import { BootstrapAdmin } from './bootstrap-admin.service.js';
import { PasswordHasher } from './password-hasher.service.js';
import { UserEntity } from './user.entity.js';
import { PgUsersRepository, UsersRepository } from './users.repository.js';
import { UsersRpcController } from './users.rpc.controller.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([UserEntity])],
  controllers: [AdminUsersController, UsersRpcController],
  providers: [{ provide: UsersRepository, useClass: PgUsersRepository }, UsersService, PasswordHasher, BootstrapAdmin],
  exports: [UsersService, PasswordHasher],
})
export class UsersModule {}
