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
  /** How the user authenticated (RFC 8176 values). */
  amr: string[];
  /** Authentication assurance level: 1, or 2 after a second factor. */
  aal: number;
  /** When a factor was last proven, seconds since the epoch. */
  auth_time: number;
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
