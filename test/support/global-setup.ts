import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { adminQuery, assertRedisReachable, databaseUrlFor } from './services';

/**
 * Creates this run's own database and directory for the services' files (mail written as files),
 * both removed in global-teardown, and checks that Redis answers.
 */
export default async function globalSetup(): Promise<void> {
  process.env.GATEHOUSE_TEST_DATA_DIR = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const name = `gatehouse_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  process.env.GATEHOUSE_TEST_DATABASE = name;
  process.env.GATEHOUSE_TEST_DATABASE_URL = databaseUrlFor(name);
  await assertRedisReachable();
}
