import { DataSource, type DataSourceOptions } from 'typeorm';

import { dataSourceOptions } from '../../src/platform/database/data-source-options';
import { ownDatabase } from './services';

export interface MigratedDatabase {
  dataSource: DataSource;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A freshly migrated database of the suite's own, for repository specs: they can count rows and
 * truncate tables without meeting other suites' data. Drop it in afterAll.
 */
export async function migratedDatabase(prefix: string, entities: DataSourceOptions['entities'] = []): Promise<MigratedDatabase> {
  const own = await ownDatabase(prefix);
  const dataSource = await new DataSource(dataSourceOptions(own.url, { entities, migrationsRun: true, poolSize: 4 })).initialize();
  return {
    dataSource,
    drop: async () => {
      await dataSource.destroy();
      await own.drop();
    },
  };
}
