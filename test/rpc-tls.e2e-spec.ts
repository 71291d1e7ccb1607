import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, timeout } from 'rxjs';
import { startTestApp, TestApp, uniqueUser } from './support/test-app';

/** A throwaway CA, a server certificate for 127.0.0.1, and client certificates from it and from a stranger CA. */
function makeCertificates(dir: string): Record<string, string> {
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const ca of ['ca', 'stranger-ca']) ssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-subj', `/CN=${ca}`, '-days', '1');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  const issue = (name: string, ca: string, ext?: string): void => {
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', ...(ext ? ['-extfile', ext] : []));
  };
  issue('server', 'ca', 'san.ext');
  issue('client', 'ca');
  issue('stranger', 'stranger-ca');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return Object.fromEntries(['ca.crt', 'server.crt', 'server.key', 'client.crt', 'client.key', 'stranger.crt', 'stranger.key'].map((f) => [f, read(f)]));
}

describe('TCP listener with TLS and client certificates (RPC_TLS_*)', () => {
  let t: TestApp | undefined;
  let dir: string;
  let pem: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
    pem = makeCertificates(dir);
    // The key as a file path, the others as PEM text: both forms are accepted.
    t = await startTestApp({ RPC_TLS_CERT: pem['server.crt'], RPC_TLS_KEY: join(dir, 'server.key'), RPC_TLS_CA: pem['ca.crt'], REDIS_URL: '' });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function call(tlsOptions?: object): Promise<unknown> {
    const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: t!.config.rpc.port, ...(tlsOptions ? { tlsOptions } : {}) } });
    try {
      return await firstValueFrom(client.send('users.findByEmail', { email: 'nobody@example.com' }).pipe(timeout(3000)));
    } finally {
      await client.close();
    }
  }

  it('serves a client presenting a certificate from the configured CA', async () => {
    expect(await call({ ca: pem['ca.crt'], cert: pem['client.crt'], key: pem['client.key'] })).toBeNull();
    const u = uniqueUser('tls');
    await t!.http().post('/auth/register').send(u).expect(201);
  });

  it('refuses a TLS client without a certificate, one from another CA, and a plain TCP client', async () => {
    await expect(call({ ca: pem['ca.crt'] })).rejects.toBeDefined();
    await expect(call({ ca: pem['ca.crt'], cert: pem['stranger.crt'], key: pem['stranger.key'] })).rejects.toBeDefined();
    await expect(call()).rejects.toBeDefined();
  });
});
