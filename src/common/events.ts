/** The domain events of the contract (emitted in-process; see API.md "Events"). */
export const USER_DEACTIVATED = 'user.deactivated';
export const USER_ACTIVATED = 'user.activated';

export interface UserEvent {
  type: string;
  userId: string;
  at: string;
  actorId?: string;
}
