import type { PublicUser } from '../users/user.mapper.js';

/** Who is calling: the result of verifying an access token against its live session. */
export interface AuthContext {
  userId: string;
  sessionId: string;
  roles: string[];
  isImpersonated: boolean;
  impersonatorId: string | null;
  claims: Record<string, unknown>;
  user: PublicUser;
}
