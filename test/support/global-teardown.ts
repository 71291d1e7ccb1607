import { adminQuery } from './services';

export default async function globalTeardown(): Promise<void> {
  const name = process.env.GATEHOUSE_TEST_DATABASE;
  if (name) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
