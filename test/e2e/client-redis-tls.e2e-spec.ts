import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { AuthClientModule, TokenVerifier, type AuthClientOptions, type ClientTlsOptions } from '@gatehouse/client';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import Redis from 'ioredis';
import request from 'supertest';

import { createGatehouseApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/platform/config/app-config';
import { signedInUser } from '../support/accounts';
import { CapturingLogger } from '../support/capturing-logger';
import { OwnTlsRedis } from '../support/own-servers';
import { freePort, testServiceEnv } from '../support/test-app';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A loopback TCP relay that records every byte the client sends, to see what crosses the wire. */
class WireTap {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly chunks: Buffer[] = [];
  connections = 0;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      this.connections += 1;
      const upstream = createConnection({ host: '127.0.0.1', port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('data', (chunk: Buffer) => this.chunks.push(chunk));
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  get sent(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('gatehouse/client over rediss:// (a TLS Redis with a password)', () => {
  // Characters that must be percent-encoded in a URL, so a client that does not decode fails AUTH.
  const password = 'p@ss:w/rd%+ #?';
  const aclUser = { name: 'sibling-app', password: 'acl pass@word/2' };
  const prefix = `gatehouse-test-rediss-${process.pid}`;
  let certs: TestCertificates;
  let tls: ClientTlsOptions;
  let redis: OwnTlsRedis | undefined;
  let admin: Redis | undefined;
  let gatehouse: NestFastifyApplication | undefined;
  let baseUrl: string;
  let issuer: string;
  const modules: TestingModule[] = [];
  const taps: WireTap[] = [];
  const logger = new CapturingLogger();

  const enc = encodeURIComponent;
  const tlsUrl = (auth: string, port = redis!.tlsPort, db = 2): string => `rediss://${auth}@127.0.0.1:${port}/${db}`;

  beforeAll(async () => {
    certs = makeTestCertificates();
    tls = { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key };
    redis = await OwnTlsRedis.create({ password, cert: certs.server.cert, key: certs.server.key, ca: certs.ca.cert });
    await redis.start();
    admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await admin.call('ACL', 'SETUSER', aclUser.name, 'on', `>${aclUser.password}`, '~*', '&*', '+@all');
    // gatehouse itself on the plain port: only the client is under test here.
    const rpcPort = await freePort();
    const config = loadConfig(testServiceEnv({ httpPort: 0, rpcPort }, { LOG_LEVEL: 'error', REDIS_URL: redis.url, REDIS_PREFIX: prefix }));
    issuer = config.jwt.issuer;
    gatehouse = (await createGatehouseApp({ config })).app;
    await gatehouse.startAllMicroservices();
    await gatehouse.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = await gatehouse.getUrl();
  });

  afterAll(async () => {
    // Bounded: a client stuck mid-handshake (the failure under test) must not keep the server alive.
    for (const m of modules) await Promise.race([m.close(), sleep(5000)]);
    for (const t of taps) await t.close();
    await gatehouse?.close();
    admin?.disconnect();
    await redis?.destroy();
  });

  async function client(extra: Partial<AuthClientOptions>): Promise<TokenVerifier> {
    const moduleRef = await Test.createTestingModule({
      imports: [AuthClientModule.forRoot({ issuer, jwksUrl: `${baseUrl}/.well-known/jwks.json`, ...extra })],
    })
      .setLogger(logger)
      .compile();
    modules.push(moduleRef);
    await moduleRef.init();
    return moduleRef.get(TokenVerifier);
  }

  async function tap(): Promise<WireTap> {
    const t = new WireTap(redis!.tlsPort);
    await t.start();
    taps.push(t);
    return t;
  }

  /** The client connections the server sees on its TLS port: their user and database. */
  async function tlsClients(): Promise<Array<{ user: string; db: string }>> {
    const list = (await admin!.call('CLIENT', 'LIST')) as string;
    return list
      .trim()
      .split('\n')
      .map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))
      .filter((c) => c.laddr?.endsWith(`:${redis!.tlsPort}`))
      .map((c) => ({ user: c.user, db: c.db }));
  }

  const refusal = (statusCode: number) => ({ body: expect.objectContaining({ statusCode }) });

  it('asks gatehouse in live mode over TLS with a percent-encoded ":password@" and a database index', async () => {
    const verifier = await client({ live: { transport: 'redis', url: tlsUrl(`:${enc(password)}`), tls, timeoutMs: 5000 } });
    const { accessToken: token, id: userId, auth } = await signedInUser(baseUrl, 'rediss');
    expect(await verifier.verify(token)).toMatchObject({ userId, roles: ['user'] });
    expect(await tlsClients()).toContainEqual({ user: 'default', db: '2' });
    await request(baseUrl).post('/auth/logout').set(auth).expect(204);
    await expect(verifier.verify(token)).rejects.toMatchObject(refusal(401));
  });

  it('asks gatehouse in live mode as an ACL user ("user:password@")', async () => {
    const verifier = await client({
      live: { transport: 'redis', url: tlsUrl(`${enc(aclUser.name)}:${enc(aclUser.password)}`, undefined, 5), tls, timeoutMs: 5000 },
    });
    const { accessToken: token, id: userId } = await signedInUser(baseUrl, 'rediss');
    expect(await verifier.verify(token)).toMatchObject({ userId });
    expect(await tlsClients()).toContainEqual({ user: aclUser.name, db: '5' });
  });

  it('subscribes to revocations over TLS and refuses a logged-out session within milliseconds', async () => {
    const channel = `${prefix}.events`;
    const subscribers = async (): Promise<number> => Number(((await admin!.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
    const before = await subscribers();
    const verifier = await client({ revocations: { redisUrl: tlsUrl(`:${enc(password)}`), prefix, tls } });
    for (let i = 0; i < 100 && (await subscribers()) === before; i += 1) await sleep(50);
    expect(await subscribers()).toBe(before + 1);
    const { accessToken: token, id: userId, auth } = await signedInUser(baseUrl, 'rediss');
    expect(await verifier.verify(token)).toMatchObject({ userId });
    await request(baseUrl).post('/auth/logout').set(auth).expect(204);
    let refused: unknown;
    for (let i = 0; i < 100 && !refused; i += 1) {
      refused = await verifier.verify(token).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (!refused) await sleep(20);
    }
    expect(refused).toMatchObject({ body: { statusCode: 401, message: 'session revoked' } });
  });

  it('never sends the password in the clear: a TLS handshake on the wire, no plain-TCP attempt, no fallback', async () => {
    const secrets = [password, aclUser.password];
    const wire = await tap();
    const verifier = await client({ live: { transport: 'redis', url: tlsUrl(`:${enc(password)}`, wire.port), tls, timeoutMs: 5000 } });
    const { accessToken: token, id: userId } = await signedInUser(baseUrl, 'rediss');
    const verified = await verifier.verify(token).catch((error: unknown) => error);
    expect(wire.connections).toBeGreaterThan(0);
    for (const s of secrets) expect(wire.sent.toString('latin1')).not.toContain(s);
    expect(wire.sent[0]).toBe(0x16); // a TLS handshake record, not a RESP command
    expect(verified).toMatchObject({ userId });

    // A server the client does not trust: the connection fails, and nothing is retried in the clear.
    const untrusted = await tap();
    const wary = await client({
      live: {
        transport: 'redis',
        url: tlsUrl(`:${enc(password)}`, untrusted.port),
        tls: { ...tls, ca: certs.strangerCa.cert },
        timeoutMs: 3000,
      },
    });
    await expect(wary.verify(token)).rejects.toMatchObject(refusal(503));
    expect(untrusted.connections).toBeGreaterThan(0);
    expect(untrusted.sent[0]).toBe(0x16);
    for (const s of secrets) expect(untrusted.sent.toString('latin1')).not.toContain(s);

    // TLS options with redis:// (plain TCP) are refused before any connection is made.
    const plain = await tap();
    const misconfigured = client({ live: { transport: 'redis', url: `redis://:${enc(password)}@127.0.0.1:${plain.port}/2`, tls } });
    const error = await misconfigured.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/rediss:\/\//);
    expect(error?.message).not.toContain(password);
    await sleep(200);
    expect(plain.connections).toBe(0);

    for (const line of logger.lines) for (const s of [password, enc(password), aclUser.password]) expect(line).not.toContain(s);
  });
});
