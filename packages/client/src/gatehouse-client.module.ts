import { Module, type DynamicModule } from '@nestjs/common';

import { GatehouseClient, type GatehouseClientOptions } from './gatehouse-client.js';

export const GATEHOUSE_CLIENT_OPTIONS = Symbol('GATEHOUSE_CLIENT_OPTIONS');

export interface GatehouseClientAsyncOptions {
  imports?: DynamicModule['imports'];
  inject?: Array<string | symbol | (abstract new (...args: never[]) => unknown)>;
  useFactory: (...args: never[]) => GatehouseClientOptions | Promise<GatehouseClientOptions>;
}

/**
 * Provides `GatehouseClient` to the whole app (inject it by its class); its connection is closed
 * when the app shuts down.
 */
@Module({})
export class GatehouseClientModule {
  static forRoot(options: GatehouseClientOptions): DynamicModule {
    return GatehouseClientModule.forRootAsync({ useFactory: () => options });
  }

  static forRootAsync(options: GatehouseClientAsyncOptions): DynamicModule {
    return {
      module: GatehouseClientModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        { provide: GATEHOUSE_CLIENT_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        // Nest calls the instance's onApplicationShutdown, which closes the connection.
        {
          provide: GatehouseClient,
          useFactory: (o: GatehouseClientOptions) => GatehouseClient.connect(o),
          inject: [GATEHOUSE_CLIENT_OPTIONS],
        },
      ],
      exports: [GatehouseClient],
    };
  }
}
