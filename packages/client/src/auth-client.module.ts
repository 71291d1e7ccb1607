import { DynamicModule, Module, Provider } from '@nestjs/common';
import { AuthGuard } from './auth.guard.js';
import { AUTH_CLIENT_OPTIONS, type AuthClientOptions } from './client-options.js';
import { JwksKeyStore } from './jwks-key-store.js';
import { TokenVerifier } from './token-verifier.js';

export interface AuthClientAsyncOptions {
  imports?: DynamicModule['imports'];
  inject?: Array<string | symbol | (abstract new (...args: never[]) => unknown)>;
  useFactory: (...args: never[]) => AuthClientOptions | Promise<AuthClientOptions>;
}

const PROVIDERS: Provider[] = [JwksKeyStore, TokenVerifier, AuthGuard];

/**
 * What a sibling Nest app imports to protect its handlers with gatehouse tokens. Use the guard per
 * controller (`@UseGuards(AuthGuard)`) or globally (`{ provide: APP_GUARD, useExisting: AuthGuard }`).
 */
@Module({})
export class AuthClientModule {
  static forRoot(options: AuthClientOptions): DynamicModule {
    return {
      module: AuthClientModule,
      global: true,
      providers: [{ provide: AUTH_CLIENT_OPTIONS, useValue: options }, ...PROVIDERS],
      exports: [AuthGuard, TokenVerifier],
    };
  }

  static forRootAsync(options: AuthClientAsyncOptions): DynamicModule {
    return {
      module: AuthClientModule,
      global: true,
      imports: options.imports ?? [],
      providers: [{ provide: AUTH_CLIENT_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] }, ...PROVIDERS],
      exports: [AuthGuard, TokenVerifier],
    };
  }
}
