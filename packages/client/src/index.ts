export { AuthClientModule, type AuthClientAsyncOptions } from './auth-client.module.js';
export { AuthGuard, GatehouseGuard } from './auth.guard.js';
export type {
  AssuranceLevel,
  AuthClientOptions,
  AuthenticatedUser,
  AuthErrorBody,
  ClientTlsOptions,
  LiveOptions,
  TokenExtractor,
  TokenSource,
} from './client-options.js';
export { CurrentUser, OptionalAuth, Public, RequireAal, RequireRecentAuth, Roles } from './decorators.js';
export { AuthClientError, type Refusal, type RefusalReason } from './refusals.js';
export { TokenVerifier } from './token-verifier.js';
export {
  GatehouseClient,
  GatehouseClientError,
  type GatehouseClientOptions,
  type GatehouseErrorBody,
  type GatehouseUser,
  type VerifiedCaller,
} from './gatehouse-client.js';
export { GatehouseClientModule, type GatehouseClientAsyncOptions } from './gatehouse-client.module.js';
