import { Client } from 'pg';

import { AUTH_CHANGES_CHANNEL } from '../../src/events/auth-changes';
import { Transactions } from '../../src/platform/database/transactions';
import { SigningKeyEntity } from '../../src/tokens/signing-key.entity';
import { PgSigningKeysRepository } from '../../src/tokens/signing-keys.repository';
import { describeSigningKeysRepository, newKey } from '../contracts/signing-keys.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

let db: MigratedDatabase;
let repository: PgSigningKeysRepository;

async function reset(): Promise<void> {
  await db.dataSource.query(`TRUNCATE signing_keys`);
}

beforeAll(async () => {
  db = await migratedDatabase('signing_keys_repo', [SigningKeyEntity]);
  repository = new PgSigningKeysRepository(db.dataSource);
});

afterAll(async () => {
  await db?.drop();
});

describe('PgSigningKeysRepository', () => {
  describeSigningKeysRepository(() => Promise.resolve({ repository, transactions: new Transactions(db.dataSource), reset }));
});

describe('PgSigningKeysRepository on PostgreSQL only', () => {
  beforeEach(reset);

  it('rolls a rotation back whole: the previous key stays current when the new one cannot be stored', async () => {
    const first = newKey('ES256');
    await repository.rotate(first);
    await expect(repository.rotate({ ...newKey('ES256'), kid: first.kid })).rejects.toThrow();
    expect(await repository.findCurrent('ES256')).toMatchObject({ kid: first.kid });
    const rows = await db.dataSource.query(`SELECT kid, current, superseded_at FROM signing_keys`);
    expect(rows).toEqual([{ kid: first.kid, current: true, superseded_at: null }]);
  });

  it('announces a rotation and a retirement to every instance', async () => {
    const listener = new Client({ connectionString: (db.dataSource.options as { url?: string }).url });
    await listener.connect();
    try {
      const heard: string[] = [];
      let twice!: () => void;
      const done = new Promise<void>((resolve) => (twice = resolve));
      listener.on('notification', (message) => {
        heard.push(`${message.channel} ${message.payload}`);
        if (heard.length === 2) twice();
      });
      await listener.query(`LISTEN ${AUTH_CHANGES_CHANNEL}`);
      const first = newKey('ES256');
      await repository.rotate(first);
      await repository.rotate(newKey('ES256'));
      await done;
      expect(heard).toEqual([`${AUTH_CHANGES_CHANNEL} keys:changed`, `${AUTH_CHANGES_CHANNEL} keys:changed`]);
      heard.length = 0;
      const retired = new Promise<void>((resolve) => listener.once('notification', () => resolve()));
      expect(await repository.retire({ minAgeSeconds: 0, kid: first.kid })).toEqual([first.kid]);
      await retired;
      expect(heard).toEqual([`${AUTH_CHANGES_CHANNEL} keys:changed`]);
    } finally {
      await listener.end();
    }
  });
});
