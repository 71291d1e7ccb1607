import { DynamicModule, Module, Provider } from '@nestjs/common';

import { GatehouseGuard } from './auth.guard.js';
import { AUTH_CLIENT_OPTIONS, checkOptions, type AuthClientOptions } from './client-options.js';
import { GuardCoverage } from './guard-coverage.js';
import { JwksKeyStore } from './jwks-key-store.js';
import { TokenVerifier } from './token-verifier.js';

export interface AuthClientAsyncOptions {
  imports?: DynamicModule['imports'];
  inject?: Array<string | symbol | (abstract new (...args: never[]) => unknown)>;
  useFactory: (...args: never[]) => AuthClientOptions | Promise<AuthClientOptions>;
}

const PROVIDERS: Provider[] = [JwksKeyStore, TokenVerifier, GatehouseGuard, GuardCoverage];

/**
 * What a sibling Nest app imports to protect its handlers with gatehouse tokens. Use the guard
 * globally (`{ provide: APP_GUARD, useExisting: GatehouseGuard }`, and in a hybrid app
 * `app.connectMicroservice(options, { inheritAppConfig: true })`) or per controller
 * (`@UseGuards(GatehouseGuard)`).
 */
@Module({})
export class AuthClientModule {
  static forRoot(options: AuthClientOptions): DynamicModule {
    return {
      module: AuthClientModule,
      global: true,
      // Checked when the app is created, so a mis-set option stops it with one line.
      providers: [{ provide: AUTH_CLIENT_OPTIONS, useFactory: () => checkOptions(options) }, ...PROVIDERS],
      exports: [GatehouseGuard, TokenVerifier],
    };
  }

  static forRootAsync(options: AuthClientAsyncOptions): DynamicModule {
    return {
      module: AuthClientModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        {
          provide: AUTH_CLIENT_OPTIONS,
          useFactory: async (...args: never[]) => checkOptions(await options.useFactory(...args)),
          inject: options.inject ?? [],
        },
        ...PROVIDERS,
      ],
      exports: [GatehouseGuard, TokenVerifier],
    };
  }
}
