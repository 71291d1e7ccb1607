import type { DestinationStream } from 'pino';

import type { PublicUser } from '../../shared/access/auth-context.js';
import type { AppConfig } from './app-config.js';

/** The registered claims of an access token, which a payload hook can read but never override. */
export interface RegisteredClaims {
  iss: string;
  aud?: string;
  sub: string;
  sid: string;
  jti: string;
  iat: number;
  exp: number;
  roles: string[];
  isImpersonated: boolean;
  act?: { sub: string };
}

export interface GatehouseOptions {
  /** The configuration; read from the environment when omitted. */
  config?: AppConfig;
  /** accounts-js's hook: the returned claims are merged into the access token. */
  createJwtPayload?: (data: RegisteredClaims, user: PublicUser) => object | Promise<object>;
  /** Where the JSON log lines go; stdout when omitted. */
  logDestination?: DestinationStream;
}

export const GATEHOUSE_OPTIONS = Symbol('GATEHOUSE_OPTIONS');
