import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { AppError, ErrorCode } from '../../shared/errors/app-error.js';
import { DatabaseConnection } from './database-connection.js';

const WITHOUT_DATABASE = 'gatehouse:withoutDatabase';

/** Serves a controller or handler while the database is not ready yet (health, metrics). */
export const WithoutDatabase = (): MethodDecorator & ClassDecorator => SetMetadata(WITHOUT_DATABASE, true);

/**
 * Global: until the database is connected, migrated and the start-up work is done (signing keys,
 * bootstrap admin), every route and message pattern answers 503. Without it, a request arriving
 * while that work runs would be served half-way: a login would open a session and then fail to
 * sign its token, the bootstrap admin would be "login failed".
 */
@Injectable()
export class DatabaseReadyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly database: DatabaseConnection,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.database.ready) return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(WITHOUT_DATABASE, [context.getHandler(), context.getClass()])) return true;
    throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'service temporarily unavailable');
  }
}
