import { rmSync } from 'node:fs';

import { adminQuery } from './services';

export default async function globalTeardown(): Promise<void> {
  const dataDir = process.env.GATEHOUSE_TEST_DATA_DIR;
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  const name = process.env.GATEHOUSE_TEST_DATABASE;
  if (name) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
