import { connect } from 'node:net';
import { Logger } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { firstValueFrom } from 'rxjs';
import { DataSource } from 'typeorm';

import { createGatehouseApp, startGatehouse } from '../../src/bootstrap';
import { loadConfig } from '../../src/platform/config/app-config';
import { dataSourceOptions, MIGRATIONS } from '../../src/platform/database/data-source-options';
import { DatabaseConnection } from '../../src/platform/database/database-connection';
import { eventually, LEAK } from '../support/fault-load';
import { OwnPostgres } from '../support/own-servers';
import { SmtpSink } from '../support/smtp-sink';
import { TcpProxy } from '../support/tcp-proxy';
import { freePort, startTestApp, TestApp, testLogDestination, uniqueUser } from '../support/test-app';

/** Reconnection backs off to 5 s (±20%); migrations and the start-up work follow. */
const READY_DEADLINE_MS = 20_000;
const UNAVAILABLE = { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: expect.any(String) };

describe('started while its PostgreSQL is down', () => {
  let pg: OwnPostgres | undefined;
  let t: TestApp | undefined;
  const sink = new SmtpSink();
  const admin = { email: `boot-admin-${process.pid}@example.com`, password: 'admin password of good length' };

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    await sink.start();
    // The cluster exists but is not running: nothing listens on its port.
    t = await startTestApp({
      DATABASE_URL: pg.url(),
      SMTP_URL: sink.url,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
    });
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await pg?.destroy();
    await sink.stop();
  });

  it('is live but not ready, and answers 503 SERVICE_UNAVAILABLE (never 500) to what needs the database', async () => {
    const app = t!;
    expect((await app.http().get('/health/live').expect(200)).body).toEqual({ status: 'ok' });
    const ready = await app.http().get('/health/ready').expect(503);
    expect(ready.body).toMatchObject({ ...UNAVAILABLE, message: expect.stringContaining('database'), status: 'error' });
    expect(ready.body.details.database).toEqual({ status: 'down', message: 'not connected yet' });

    const login = await app.http().post('/auth/login').send({ email: admin.email, password: admin.password }).expect(503);
    expect(login.body).toEqual(UNAVAILABLE);
    const register = await app.http().post('/auth/register').send(uniqueUser('early')).expect(503);
    expect(register.body).toEqual(UNAVAILABLE);
    // The keys live in the database: neither published nor usable yet.
    expect((await app.http().get('/.well-known/jwks.json').expect(503)).body).toEqual(UNAVAILABLE);
    expect(await app.rpc.tcp.fail('auth.login', { email: admin.email, password: admin.password })).toEqual(UNAVAILABLE);
    expect(await app.rpc.tcp.fail('users.findByEmail', { email: admin.email })).toEqual(UNAVAILABLE);
    for (const text of [ready.text, login.text, register.text]) expect(text).not.toMatch(LEAK);
  });

  it('once PostgreSQL starts: migrates, creates the keys and the bootstrap admin, starts the outbox, and becomes ready, without a restart', async () => {
    const app = t!;
    await pg!.start();
    const ready = await eventually('ready', READY_DEADLINE_MS, async () => {
      const res = await app.http().get('/health/ready');
      return res.status === 200 ? res : undefined;
    });
    expect(ready.body).toMatchObject({ status: 'ok', details: { database: { status: 'up' }, outbox: { status: 'up' } } });

    const migrated = await pg!.query<{ n: number }>('SELECT count(*)::int AS n FROM migrations');
    expect(migrated[0].n).toBe(MIGRATIONS.length);
    const jwks = await app.http().get('/.well-known/jwks.json').expect(200);
    expect(jwks.body.keys.length).toBeGreaterThan(0);

    const adminLogin = await app.http().post('/auth/login').send({ email: admin.email, password: admin.password }).expect(200);
    expect(adminLogin.body.user).toMatchObject({ email: admin.email, roles: ['user', 'admin'], emailVerified: true });

    const u = uniqueUser('afterboot');
    const reg = await app.http().post('/auth/register').send(u).expect(201);
    const login = await app.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    expect(login.body.user.id).toBe(reg.body.user.id);
    const me = await app.http().get('/auth/me').set('authorization', `Bearer ${login.body.tokens.accessToken}`).expect(200);
    expect(me.body.user.email).toBe(u.email);
    expect(await app.rpc.tcp.send('auth.verify', { accessToken: login.body.tokens.accessToken })).toMatchObject({
      userId: reg.body.user.id,
    });
    // Registration mails a verification link: the outbox worker is running.
    const [mail] = await sink.waitFor(1, u.email);
    expect(mail.subject).toBe('Confirm your email address');
  });
});

/** Takes the lock in a transaction left open (kept in `locks`); the returned function rolls it back. */
async function holdLock(pg: OwnPostgres, locks: Client[], sql: string): Promise<() => Promise<void>> {
  const client = new Client({ connectionString: pg.url(), connectionTimeoutMillis: 3000 });
  await client.connect();
  locks.push(client);
  await client.query('BEGIN');
  await client.query(sql);
  return async () => {
    await client.query('ROLLBACK');
    await client.end();
    locks.splice(locks.indexOf(client), 1);
  };
}

/** Whether the service's start-up work waits on a lock, in a statement on this table. */
async function waitsOnLock(pg: OwnPostgres, table: string): Promise<boolean> {
  const [row] = await pg.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gatehouse' AND wait_event_type = 'Lock' AND query LIKE $1`,
    [`%"${table}"%`],
  );
  return row.n > 0;
}

/** Whether a new TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe('started with the database up, the start-up work not yet done', () => {
  let pg: OwnPostgres | undefined;
  let app: NestFastifyApplication | undefined;
  let tcp: ClientProxy | undefined;
  const locks: Client[] = [];
  const u = uniqueUser('atstart');

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    await pg.start();
    const first = await startTestApp({ DATABASE_URL: pg.url() });
    try {
      await first.http().post('/auth/register').send(u).expect(201);
    } finally {
      await first.close();
    }
  });
  afterAll(async () => {
    for (const client of [...locks]) await client.end().catch(() => undefined);
    await tcp?.close();
    await app?.close().catch(() => undefined);
    await pg?.destroy();
  });

  it('opens its message-pattern listener only once the signing keys are loaded, as it does HTTP', async () => {
    const [httpPort, rpcPort] = [await freePort(), await freePort()];
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      PORT: String(httpPort),
      RPC_HOST: '127.0.0.1',
      RPC_PORT: String(rpcPort),
      DATABASE_URL: pg!.url(),
      DATABASE_POOL_SIZE: '3',
      REDIS_URL: '',
      REQUIRE_EMAIL_VERIFICATION: 'false',
    });
    const releaseKeys = await holdLock(pg!, locks, 'LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE');
    ({ app } = await createGatehouseApp({ config, logDestination: testLogDestination() }));
    const started = startGatehouse(app, config);
    await eventually('the signing keys waiting to load', READY_DEADLINE_MS, () => waitsOnLock(pg!, 'signing_keys'));

    // Taking a login now would open a session and then fail to sign its token.
    expect(await refused(rpcPort)).toBe(true);
    expect(await refused(httpPort)).toBe(true);

    await releaseKeys();
    await started;
    tcp = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: rpcPort } });
    const login = await firstValueFrom(tcp.send<{ user: { email: string } }>('auth.login', { email: u.email, password: u.password }));
    expect(login.user.email).toBe(u.email);
    expect(
      await pg!.query(`SELECT count(*)::int AS n FROM sessions s JOIN users x ON x.id = s.user_id WHERE x.email = $1`, [u.email]),
    ).toEqual([{ n: 1 }]);
  });
});

describe('connected in the background, the start-up work not yet done', () => {
  let pg: OwnPostgres | undefined;
  let proxy: TcpProxy | undefined;
  let t: TestApp | undefined;
  const locks: Client[] = [];
  const u = uniqueUser('starting');
  const admin = { email: `starting-admin-${process.pid}@example.com`, password: 'admin password of good length' };

  const hold = (sql: string): Promise<() => Promise<void>> => holdLock(pg!, locks, sql);
  const startupWaitsOn = (table: string): Promise<boolean> => waitsOnLock(pg!, table);

  beforeAll(async () => {
    pg = await OwnPostgres.create();
    await pg.start();
    // A first instance migrates, stores the signing key and registers a user, then goes.
    const first = await startTestApp({ DATABASE_URL: pg.url() });
    try {
      await first.http().post('/auth/register').send(u).expect(201);
    } finally {
      await first.close();
    }
    // The next one reaches the server through a proxy that is not listening yet: not reachable at start.
    const proxyPort = await freePort();
    proxy = new TcpProxy('127.0.0.1', pg.port);
    const viaProxy = new URL(pg.url());
    viaProxy.port = String(proxyPort);
    t = await startTestApp({
      DATABASE_URL: viaProxy.toString(),
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: admin.password,
    });
    await proxy.start(proxyPort);
  });
  afterAll(async () => {
    for (const client of [...locks]) await client.end().catch(() => undefined);
    await t?.close().catch(() => undefined);
    await proxy?.cut();
    await pg?.destroy();
  });

  it('answers 503 and changes nothing until the keys and the bootstrap admin are there, then serves', async () => {
    const app = t!;
    // Held before the instance connects: loading the signing keys waits on it.
    const releaseKeys = await hold('LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE');
    await eventually('the signing keys waiting to load', READY_DEADLINE_MS, () => startupWaitsOn('signing_keys'));

    const early = await app.http().post('/auth/login').send({ email: u.email, password: u.password });
    expect({ status: early.status, body: early.body }).toEqual({ status: 503, body: UNAVAILABLE });
    expect(await app.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).toEqual(UNAVAILABLE);
    // A refused login leaves no session behind.
    expect(await pg!.query(`SELECT s.id FROM sessions s JOIN users x ON x.id = s.user_id WHERE x.email = $1`, [u.email])).toEqual([]);

    // The keys load; creating the bootstrap admin then waits to insert it.
    const releaseUsers = await hold('LOCK TABLE users IN SHARE MODE');
    await releaseKeys();
    await eventually('the bootstrap admin waiting to be created', READY_DEADLINE_MS, () => startupWaitsOn('users'));
    // Not "login failed" for an admin about to exist.
    const admin503 = await app.http().post('/auth/login').send({ email: admin.email, password: admin.password });
    expect({ status: admin503.status, body: admin503.body }).toEqual({ status: 503, body: UNAVAILABLE });
    const ready = await app.http().get('/health/ready').expect(503);
    expect(ready.body.details.database).toEqual({ status: 'down', message: 'starting' });

    await releaseUsers();
    await eventually('ready', READY_DEADLINE_MS, async () => (await app.http().get('/health/ready')).status === 200);
    const adminLogin = await app.http().post('/auth/login').send({ email: admin.email, password: admin.password }).expect(200);
    expect(adminLogin.body.user).toMatchObject({ email: admin.email, roles: ['user', 'admin'] });
    const login = await app.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    expect(
      (await app.rpc.tcp.send<{ user: { email: string } }>('auth.verify', { accessToken: login.body.tokens.accessToken })).user.email,
    ).toBe(u.email);
    // Signed with the key the first instance stored: none generated twice.
    expect(await pg!.query('SELECT count(*)::int AS n FROM signing_keys')).toEqual([{ n: 1 }]);
    expect(
      await pg!.query(`SELECT count(*)::int AS n FROM sessions s JOIN users x ON x.id = s.user_id WHERE x.email = $1`, [u.email]),
    ).toEqual([{ n: 1 }]);
  });
});

describe('the first connection at start', () => {
  let pg: OwnPostgres | undefined;
  const password = 'right-horse-battery-7';
  const opened: DatabaseConnection[] = [];

  beforeAll(async () => {
    pg = await OwnPostgres.create({ password });
    await pg.start();
  });
  afterAll(async () => {
    for (const c of opened) await c.beforeApplicationShutdown();
    await pg?.destroy();
  });

  function open(url: string): { connection: DatabaseConnection; result: Promise<DataSource> } {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url });
    const connection = new DatabaseConnection(config);
    opened.push(connection);
    return { connection, result: connection.open(new DataSource(dataSourceOptions(url, { migrationsRun: true }))) };
  }

  it('stops the start when the server refuses the credentials, naming the problem but never the password', async () => {
    const wrong = 'wrong-password-for-sure';
    const error = (await open(pg!.url('postgres', wrong)).result.then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/^cannot use the database: password authentication failed for user "postgres" \(check DATABASE_URL\)$/);
    expect(error.message).not.toContain(wrong);
    expect(error.message).not.toContain(password);
  });

  it('stops the start when the database does not exist', async () => {
    const error = (await open(pg!.url('no_such_database')).result.then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(error.message).toBe('cannot use the database: database "no_such_database" does not exist (check DATABASE_URL)');
  });

  it('starts not ready when nothing answers, and connects once the server is there', async () => {
    const elsewhere = await OwnPostgres.create();
    try {
      const { connection, result } = open(elsewhere.url());
      const dataSource = await result;
      expect(dataSource.isInitialized).toBe(false);
      expect(connection.state).toBe('connecting');
      await elsewhere.start();
      await eventually('connected', READY_DEADLINE_MS, () => connection.ready);
      expect(dataSource.isInitialized).toBe(true);
      expect(await dataSource.query('SELECT count(*)::int AS n FROM migrations')).toEqual([{ n: MIGRATIONS.length }]);
      await dataSource.destroy();
    } finally {
      await elsewhere.destroy();
    }
  });

  it('retries start-up work that fails once connected, saying so once rather than on every attempt', async () => {
    const elsewhere = await OwnPostgres.create();
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const { connection, result } = open(elsewhere.url());
      const dataSource = await result;
      let attempts = 0;
      await connection.whenConnected('the failing work', () => {
        attempts += 1;
        throw new Error('refused for now');
      });
      await elsewhere.start();
      await eventually('four attempts', READY_DEADLINE_MS, () => attempts >= 4);
      expect(connection.state).toBe('starting');
      expect(warn.mock.calls.filter(([message]) => String(message).startsWith('the failing work failed'))).toHaveLength(1);
      // Resolves once the retrying has ended.
      await connection.beforeApplicationShutdown();
      await dataSource.destroy();
    } finally {
      warn.mockRestore();
      await elsewhere.destroy();
    }
  });

  it('stops trying when the application closes before the server comes', async () => {
    const elsewhere = await OwnPostgres.create();
    try {
      const { connection, result } = open(elsewhere.url());
      const dataSource = await result;
      await connection.beforeApplicationShutdown();
      await elsewhere.start();
      // Longer than the backoff's cap: an attempt still scheduled would have connected by now.
      await new Promise((resolve) => setTimeout(resolve, 6_500));
      expect(connection.state).toBe('connecting');
      expect(dataSource.isInitialized).toBe(false);
      expect(
        await elsewhere.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'gatehouse'`),
      ).toEqual([{ n: 0 }]);
    } finally {
      await elsewhere.destroy();
    }
  });

  it('connects at once when the server is up, as it always has', async () => {
    const { connection, result } = open(pg!.url());
    const dataSource = await result;
    expect(connection.ready).toBe(true);
    expect(await dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await dataSource.destroy();
  });
});
