import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './src/database/data-source-options.js';

// The TypeORM CLI (npm run migration:*) works against a real server named by DATABASE_URL.
const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error('DATABASE_URL must be set for the migration commands (postgres://user:pass@host:5432/db)');
}

export default new DataSource(dataSourceOptions(url));
