import type { AuthenticatedUser } from '../client/client-options.js';
import type { PublicUser } from '../users/user.mapper.js';

/**
 * Who is calling: the result of verifying an access token against its live session. The same shape
 * sibling apps get from gatehouse/client, plus the public user.
 */
export interface AuthContext extends AuthenticatedUser {
  user: PublicUser;
}
