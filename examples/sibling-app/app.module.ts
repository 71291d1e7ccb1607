import { AuthClientModule, GatehouseGuard, type AuthClientOptions } from '@gatehouse/client';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { OrdersController } from './orders.controller.js';

@Module({})
export class SiblingAppModule {
  static forRoot(auth: AuthClientOptions): DynamicModule {
    return {
      module: SiblingAppModule,
      imports: [AuthClientModule.forRoot(auth)],
      controllers: [OrdersController],
      // Deny by default: every HTTP route and message pattern goes through the guard.
      providers: [{ provide: APP_GUARD, useExisting: GatehouseGuard }],
    };
  }
}
