import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'gatehouse:isPublic';

/** Opens a route or message pattern to callers without an access token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

export const ROLES = 'gatehouse:roles';

/** Restricts a route or message pattern to callers having one of these roles (current roles). */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES, roles);
