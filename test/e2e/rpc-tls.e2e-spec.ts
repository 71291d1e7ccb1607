import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';

import { startTestApp, TestApp, uniqueUser } from '../support/test-app';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates';

describe('TCP listener with TLS and client certificates (RPC_TLS_*)', () => {
  let t: TestApp | undefined;
  let dir: string;
  let pem: TestCertificates;

  beforeAll(async () => {
    pem = makeTestCertificates();
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
    writeFileSync(join(dir, 'server.key'), pem.server.key, { mode: 0o600 });
    // The key as a file path, the others as PEM text: both forms are accepted.
    t = await startTestApp({ RPC_TLS_CERT: pem.server.cert, RPC_TLS_KEY: join(dir, 'server.key'), RPC_TLS_CA: pem.ca.cert, REDIS_URL: '' });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(tlsOptions?: object): Promise<unknown> {
    const client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: t!.config.rpc.port, ...(tlsOptions ? { tlsOptions } : {}) },
    });
    try {
      return await firstValueFrom(client.send('users.findByEmail', { email: 'nobody@example.com' }).pipe(timeout(3000)));
    } finally {
      await client.close();
    }
  }

  it('serves a client presenting a certificate from the configured CA', async () => {
    expect(await call({ ca: pem.ca.cert, cert: pem.client.cert, key: pem.client.key })).toBeNull();
    const u = uniqueUser('tls');
    await t!.http().post('/auth/register').send(u).expect(201);
  });

  it('refuses a TLS client without a certificate, one from another CA, and a plain TCP client', async () => {
    await expect(call({ ca: pem.ca.cert })).rejects.toBeDefined();
    await expect(call({ ca: pem.ca.cert, cert: pem.stranger.cert, key: pem.stranger.key })).rejects.toBeDefined();
    await expect(call()).rejects.toBeDefined();
  });
});
