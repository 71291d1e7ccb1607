import { Agent, request as httpRequest, IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Client } from 'pg';
import { firstValueFrom } from 'rxjs';

import { registerUser } from '../support/accounts';
import { GatehouseProcess, startGatehouseProcess } from '../support/gatehouse-process';
import { OwnRedis } from '../support/own-servers';
import { SmtpSink } from '../support/smtp-sink';
import { testDatabaseUrl } from '../support/test-app';

interface JsonResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: { user?: { email: string } } | undefined;
  reusedSocket: boolean;
}

/** A request through a given agent (supertest opens a new connection per request; this can reuse one). */
function send(agent: Agent, baseUrl: string, method: string, path: string, body?: unknown): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      `${baseUrl}${path}`,
      { method, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text ? JSON.parse(text) : undefined,
            reusedSocket: req.reusedSocket,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
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

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('graceful shutdown (gatehouse as its own process)', () => {
  const sink = new SmtpSink();
  const db = new Client({ connectionString: testDatabaseUrl() });
  // A Redis of the suite's own: on a shared one, other services subscribed to the same patterns could answer.
  let ownRedis: OwnRedis | undefined;
  let redisClient: ClientProxy | undefined;
  // Transactions holding locks that keep requests in flight, each until its release.
  const locks = new Set<Client>();
  let gh: GatehouseProcess | undefined;

  const waitingOnLock = async (): Promise<number> =>
    (await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`))
      .rows[0].n;

  /** Runs the statement in a transaction left open; the returned function rolls it back. */
  async function holdLock(sql: string, params: unknown[] = []): Promise<() => Promise<void>> {
    const client = new Client({ connectionString: testDatabaseUrl() });
    await client.connect();
    locks.add(client);
    await client.query('BEGIN');
    await client.query(sql, params);
    return async () => {
      if (!locks.delete(client)) return;
      await client.query('ROLLBACK');
      await client.end();
    };
  }
  // Logins wait to insert their session while the table is locked.
  const lockSessions = (): Promise<() => Promise<void>> => holdLock('LOCK TABLE sessions IN EXCLUSIVE MODE');
  // A login for this user waits to count its attempt while this uncommitted row holds the key.
  const lockLoginsOf = async (email: string): Promise<() => Promise<void>> => {
    const { rows } = await db.query('SELECT id FROM users WHERE email = $1', [email]);
    return holdLock(`INSERT INTO login_attempts (key, failures) VALUES ($1, 0)`, [`user:${rows[0].id}`]);
  };

  const start = (env: Record<string, string> = {}): Promise<GatehouseProcess> =>
    startGatehouseProcess({ REDIS_URL: ownRedis!.url, ...env });

  beforeAll(async () => {
    await sink.start();
    await db.connect();
    ownRedis = await OwnRedis.create();
    await ownRedis.start();
  });
  afterEach(async () => {
    await redisClient?.close();
    redisClient = undefined;
    sink.release();
    for (const client of locks) await client.end();
    locks.clear();
    await gh?.stop();
    gh = undefined;
  });
  afterAll(async () => {
    await ownRedis?.destroy();
    await sink.stop();
    await db.end();
  });

  it('on SIGTERM stops taking connections, finishes in-flight HTTP, TCP and Redis work and the mail being sent, and exits 0 within 10 s', async () => {
    gh = await start({ SMTP_URL: sink.url, DATABASE_POOL_SIZE: '10' });
    const p = gh;
    const [viaKeepAlive, viaHttp1, viaHttp2, viaTcp, viaRedis, mailed] = await Promise.all(
      ['drainka', 'drainh1', 'drainh2', 'draintcp', 'drainredis', 'drainmail'].map((n) => registerUser(p, n)),
    );
    redisClient = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: ownRedis!.port } });
    await redisClient.connect();

    // Each registration mails a verification link; those are out of the way first.
    await sink.waitFor(6);
    // A mail in flight: the SMTP server has it and has not yet acknowledged it.
    sink.hold();
    await p.http().post('/auth/password/forgot').send({ email: mailed.email }).expect(202);
    await sink.waitForHeld(1);

    // Keep-alive connections: one idle, one carrying a login.
    const idleAgent = new Agent({ keepAlive: true });
    const busyAgent = new Agent({ keepAlive: true });
    expect((await send(idleAgent, p.baseUrl, 'GET', '/health/live')).status).toBe(200);
    expect((await send(busyAgent, p.baseUrl, 'GET', '/health/live')).status).toBe(200);

    const unlockSessions = await lockSessions();
    // The Redis call is held longer than the rest: the shutdown must wait for it on its own account.
    const unlockRedisLogin = await lockLoginsOf(viaRedis.email);
    const redisLogin = firstValueFrom(
      redisClient.send<{ user: { email: string } }>('auth.login', { email: viaRedis.email, password: viaRedis.password }),
    );
    const inFlight = Promise.all([
      send(busyAgent, p.baseUrl, 'POST', '/auth/login', { email: viaKeepAlive.email, password: viaKeepAlive.password }),
      p.http().post('/auth/login').send({ email: viaHttp1.email, password: viaHttp1.password }),
      p.http().post('/auth/login').send({ email: viaHttp2.email, password: viaHttp2.password }),
      p.rpc<{ user: { email: string }; tokens: { accessToken: string } }>('auth.login', { email: viaTcp.email, password: viaTcp.password }),
    ]);
    await until('five logins waiting to write their session', async () => (await waitingOnLock()) === 5);

    const signalledAt = Date.now();
    p.kill('SIGTERM');

    // New connections are refused at once, while the accepted work is still held.
    await until('HTTP listener closed', () => refused(p.httpPort));
    await until('TCP listener closed', () => refused(p.rpcPort));
    // A new message on a TCP connection opened before the shutdown is answered, not dropped.
    expect(await p.rpcFail('users.findByEmail', { email: viaTcp.email })).toEqual({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      message: 'the service is shutting down',
    });
    expect(await waitingOnLock()).toBe(5);

    await unlockSessions();
    const [keepAliveLogin, http1, http2, tcpLogin] = await inFlight;
    expect(keepAliveLogin.reusedSocket).toBe(true);
    expect(keepAliveLogin.status).toBe(200);
    expect(keepAliveLogin.body?.user?.email).toBe(viaKeepAlive.email);
    // The busy keep-alive connection is closed after its response instead of holding the shutdown.
    expect(keepAliveLogin.headers.connection).toBe('close');
    expect(http1.status).toBe(200);
    expect(http1.body.user.email).toBe(viaHttp1.email);
    expect(http2.status).toBe(200);
    expect(http2.body.tokens.accessToken).toEqual(expect.any(String));
    expect(tcpLogin.user.email).toBe(viaTcp.email);

    // The mail being sent is acknowledged and marked sent; the Redis call still holds the shutdown.
    sink.release();
    const [reset, ...again] = (await sink.waitFor(2, mailed.email)).filter((m) => m.links.some((l) => l.includes('/reset-password?')));
    expect(again).toHaveLength(0);
    const resetId = /^<(.+)@gatehouse>$/.exec(reset?.messageId ?? '')?.[1];
    const outboxRow = async (): Promise<unknown> =>
      (await db.query(`SELECT status, sent_at, text_body FROM mail_outbox WHERE id = $1`, [resetId])).rows[0];
    await until('the mail marked sent', async () => ((await outboxRow()) as { status?: string } | undefined)?.status === 'sent');
    expect(await outboxRow()).toEqual({ status: 'sent', sent_at: expect.any(Date), text_body: null });
    expect(await waitingOnLock()).toBe(1);
    expect(p.output()).not.toContain('shutdown complete');

    await unlockRedisLogin();
    expect((await redisLogin).user.email).toBe(viaRedis.email);
    const sessions = await db.query(
      `SELECT u.email, count(s.id)::int AS n FROM users u LEFT JOIN sessions s ON s.user_id = u.id WHERE u.email = ANY($1) GROUP BY u.email ORDER BY u.email`,
      [[viaKeepAlive.email, viaHttp1.email, viaHttp2.email, viaTcp.email, viaRedis.email]],
    );
    expect(sessions.rows.map((r) => r.n)).toEqual([1, 1, 1, 1, 1]);

    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(10_000);
    // Delivered once, though the shutdown came while it was being sent.
    expect(sink.to(mailed.email).filter((m) => m.messageId === reset?.messageId)).toHaveLength(1);
    expect(p.output()).toContain('SIGTERM received');
    expect(p.output()).toContain('shutdown complete');
    idleAgent.destroy();
    busyAgent.destroy();
  });

  it('on SIGINT likewise closes and exits 0, cutting a client that never finishes its request', async () => {
    gh = await start();
    const u = await registerUser(gh, 'sigint');
    await gh.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    // A client that has begun a request and does not finish it (it would otherwise hold the
    // connection until the server's header timeout, a minute).
    const straggler = connect(gh.httpPort, '127.0.0.1');
    const stragglerClosed = new Promise<void>((resolve) => straggler.once('close', () => resolve()));
    straggler.on('error', () => undefined);
    await new Promise<void>((resolve) => straggler.write('POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n', () => resolve()));
    const signalledAt = Date.now();
    gh.kill('SIGINT');
    const exit = await gh.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(10_000);
    await stragglerClosed;
    expect(gh.output()).toContain('SIGINT received');
  });

  it('when work outlives SHUTDOWN_TIMEOUT, says what is still in flight and exits 1', async () => {
    gh = await start({ SHUTDOWN_TIMEOUT: '2' });
    const p = gh;
    const u = await registerUser(p, 'deadline');
    await lockSessions();
    const stuck = p
      .http()
      .post('/auth/login')
      .send({ email: u.email, password: u.password })
      .then(
        (res) => res.status,
        (error: Error) => error.message,
      );
    await until('the login waiting to write its session', async () => (await waitingOnLock()) === 1);
    const signalledAt = Date.now();
    p.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 1, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(10_000);
    expect(p.output()).toMatch(/shutdown did not finish within 2000 ms: still finishing accepted requests; in flight: 1 HTTP request/);
    // The process went with the request unanswered.
    expect(await stuck).not.toBe(200);
  });
});
