import { createParamDecorator, ExecutionContext } from '@nestjs/common';

import { authContextOf } from './auth-carrier.js';
import type { AuthContext } from './auth-context.js';

/** The verified caller of a guarded REST route or message pattern. */
export const CurrentAuth = createParamDecorator((_data: unknown, context: ExecutionContext): AuthContext => authContextOf(context));
