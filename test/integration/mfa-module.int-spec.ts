import { randomBytes } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';

import { GatehouseModule } from '../../src/app.module';
import { MfaModule } from '../../src/mfa/mfa.module';
import { RecoveryCodesService } from '../../src/mfa/recovery-codes.service';
import { TotpService } from '../../src/mfa/totp.service';
import { loadConfig } from '../../src/platform/config/app-config';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

describe('MfaModule in the service', () => {
  let db: MigratedDatabase;
  let context: INestApplicationContext;

  beforeAll(async () => {
    db = await migratedDatabase('mfa_module');
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: (db.dataSource.options as { url: string }).url, LOG_LEVEL: 'error' });
    const moduleRef = await Test.createTestingModule({ imports: [GatehouseModule.forRoot({ config }), MfaModule] }).compile();
    context = await moduleRef.init();
  });

  afterAll(async () => {
    await context?.close();
    await db?.drop();
  });

  it('resolves its services, generates the encryption key at start, and seals secrets with it', async () => {
    expect(await db.dataSource.query(`SELECT count(*)::int AS n FROM mfa_encryption_keys WHERE current`)).toEqual([{ n: 1 }]);
    const [user] = await context
      .get(DataSource)
      .query(`INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id, email`, [
        `m-${randomBytes(4).toString('hex')}@example.com`,
      ]);
    const setup = await context.get(TotpService).startSetup(user);
    expect(setup?.otpauthUrl).toContain('issuer=localhost');
    expect(await context.get(RecoveryCodesService).regenerate(user.id)).toHaveLength(10);
  });
});
