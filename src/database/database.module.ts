import { Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';

/** Starts the embedded PostgreSQL when DATABASE_URL is unset, and stops it after the pool closes. */
@Injectable()
export class DatabaseUrlProvider implements OnApplicationShutdown {
  private embedded?: EmbeddedPostgres;
  private dataSource?: DataSource;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async url(): Promise<string> {
    if (this.config.database.url) return this.config.database.url;
    this.embedded = await startEmbeddedPostgres(this.config.dataDir, this.config.database.poolSize + 2);
    return this.embedded.url;
  }

  track(dataSource: DataSource): DataSource {
    this.dataSource = dataSource;
    return dataSource;
  }

  async onApplicationShutdown(): Promise<void> {
    if (!this.embedded) return;
    if (this.dataSource?.isInitialized) await this.dataSource.destroy();
    await this.embedded.stop();
  }
}

@Module({ providers: [DatabaseUrlProvider], exports: [DatabaseUrlProvider] })
class DatabaseUrlModule {}

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      imports: [DatabaseUrlModule],
      inject: [APP_CONFIG, DatabaseUrlProvider],
      useFactory: async (config: AppConfig, urls: DatabaseUrlProvider) => ({
        ...dataSourceOptions(await urls.url(), {
          poolSize: config.database.poolSize,
          migrationsRun: config.database.migrationsRun,
        }),
        retryAttempts: 0,
      }),
      dataSourceFactory: async (options) => {
        if (!options) throw new Error('no DataSource options');
        return new DataSource(options).initialize();
      },
    }),
  ],
})
export class DatabaseModule {}
