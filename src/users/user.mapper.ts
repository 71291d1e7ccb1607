import type { UserEntity } from './user.entity.js';

/** The public User shape of the contract. */
export interface PublicUser {
  id: string;
  email: string;
  username: string | null;
  emailVerified: boolean;
  roles: string[];
  deactivated: boolean;
  createdAt: string;
  updatedAt: string;
}

export function toPublicUser(user: Omit<UserEntity, 'passwordHash'>): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    emailVerified: user.emailVerified,
    roles: [...user.roles],
    deactivated: user.deactivatedAt !== null,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}
