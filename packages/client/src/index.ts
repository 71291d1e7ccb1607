export { AuthClientModule, type AuthClientAsyncOptions } from './auth-client.module.js';
export { AuthGuard } from './auth.guard.js';
export type { AuthClientOptions, AuthenticatedUser, AuthErrorBody, ClientTlsOptions, LiveOptions } from './client-options.js';
export { CurrentUser, Public, Roles } from './decorators.js';
export { TokenVerifier } from './token-verifier.js';
