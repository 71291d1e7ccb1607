import 'reflect-metadata';

import { DataSource } from 'typeorm';

import { dataSourceOptions } from './src/platform/database/data-source-options.js';
import { RefreshTokenEntity, SessionEntity } from './src/sessions/session.entity.js';
import { SigningKeyEntity } from './src/tokens/signing-key.entity.js';
import { UserEntity } from './src/users/user.entity.js';

// The TypeORM CLI (npm run migration:*) works against a real server named by DATABASE_URL.
const url = process.env.DATABASE_URL;
if (!url) {
  throw new Error('DATABASE_URL must be set for the migration commands (postgres://user:pass@host:5432/db)');
}

export default new DataSource(dataSourceOptions(url, { entities: [UserEntity, SessionEntity, RefreshTokenEntity, SigningKeyEntity] }));
