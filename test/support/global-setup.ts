import { randomBytes } from 'node:crypto';
import { adminQuery, assertRedisReachable, databaseUrlFor } from './services';

/** Creates this run's own database (dropped in global-teardown) and checks that Redis answers. */
export default async function globalSetup(): Promise<void> {
  const name = `gatehouse_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  process.env.GATEHOUSE_TEST_DATABASE = name;
  process.env.GATEHOUSE_TEST_DATABASE_URL = databaseUrlFor(name);
  await assertRedisReachable();
}
