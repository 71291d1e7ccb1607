/** The public User shape of the contract. */
export interface PublicUser {
  id: string;
  email: string;
  username: string | null;
  displayName: string | null;
  /** A confirmed second factor: sign-ins need it. */
  mfaEnabled: boolean;
  emailVerified: boolean;
  roles: string[];
  deactivated: boolean;
  createdAt: string;
  updatedAt: string;
}

/**
 * Who is calling: the result of verifying an access token against its live session. What sibling
 * apps get from @gatehouse/client (its AuthenticatedUser), plus the public user.
 */
export interface AuthContext {
  userId: string;
  sessionId: string;
  /** Current roles (never admin for an impersonation). */
  roles: string[];
  isImpersonated: boolean;
  /** The admin acting as the user, when impersonated. */
  impersonatorId: string | null;
  claims: Record<string, unknown>;
  user: PublicUser;
}
