import type { ExecutionContext } from '@nestjs/common';

import { unauthorized } from '../errors/app-error.js';
import type { AuthContext } from './auth-context.js';

/** What a guard reads a caller's credentials from, and where it leaves the verified caller. */
export interface AuthCarrier {
  headers: Record<string, string | string[] | undefined>;
  method?: string;
  cookies?: Record<string, string | undefined>;
  /** Over RPC: the payload's accessToken as sent, so a memoised token is found without parsing a header. */
  token?: string;
  user?: AuthContext;
}

// Over RPC there is no request object: the payload's accessToken is carried to passport-jwt in a
// stand-in request, remembered per payload so that @CurrentAuth() can read the result.
const rpcCarriers = new WeakMap<object, AuthCarrier>();

function rpcCarrier(context: ExecutionContext): AuthCarrier {
  const data: unknown = context.switchToRpc().getData();
  if (!data || typeof data !== 'object') return { headers: {} };
  let carrier = rpcCarriers.get(data);
  if (!carrier) {
    const token = (data as { accessToken?: unknown }).accessToken;
    carrier = typeof token === 'string' ? { headers: { authorization: `Bearer ${token}` }, token } : { headers: {} };
    rpcCarriers.set(data, carrier);
  }
  return carrier;
}

export function carrierOf(context: ExecutionContext): AuthCarrier {
  return context.getType() === 'rpc' ? rpcCarrier(context) : context.switchToHttp().getRequest<AuthCarrier>();
}

export function authContextOf(context: ExecutionContext): AuthContext {
  const auth = carrierOf(context).user;
  if (!auth) throw unauthorized();
  return auth;
}
