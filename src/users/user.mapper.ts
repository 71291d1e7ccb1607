import type { PublicUser } from '../shared/access/auth-context.js';
import type { UserEntity } from './user.entity.js';

export type { PublicUser };

export function toPublicUser(user: Omit<UserEntity, 'passwordHash'>): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    displayName: user.displayName,
    mfaEnabled: user.mfaEnabled,
    emailVerified: user.emailVerified,
    roles: [...user.roles],
    deactivated: user.deactivatedAt !== null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}
