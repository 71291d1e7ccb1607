import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { createGatehouseApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/platform/config/app-config';
import { eventually, sleep } from '../support/fault-load';
import { GatehouseProcess, startGatehouseProcess } from '../support/gatehouse-process';
import { OwnRedis } from '../support/own-servers';
import { freePort, startTestApp, TestApp, testDatabaseUrl, testLogDestination, uniqueUser } from '../support/test-app';

/** ioredis and the transport back off to 2 s between reconnection attempts. */
const RECONNECT_DEADLINE_MS = 15_000;
const LIMIT = 5;

/** One call that must answer within `ms` (a request published before the server re-subscribed is never answered). */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`no answer within ${ms} ms`)))]);
}

/** Collects what arrives on the given channels of a Redis server. */
async function listen(
  url: string,
  channels: string[],
): Promise<{ messages: Array<{ channel: string; body: Record<string, unknown> }>; close(): void }> {
  const sub = new Redis(url, { lazyConnect: true });
  sub.on('error', () => undefined);
  const messages: Array<{ channel: string; body: Record<string, unknown> }> = [];
  sub.on('message', (channel: string, text: string) => messages.push({ channel, body: JSON.parse(text) as Record<string, unknown> }));
  await sub.connect();
  await sub.subscribe(...channels);
  return { messages, close: () => sub.disconnect() };
}

describe('Redis down and back', () => {
  let redis: OwnRedis | undefined;
  let t: TestApp | undefined;
  let user: { id: string; email: string; password: string };

  beforeAll(async () => {
    redis = await OwnRedis.create();
    await redis.start();
    t = await startTestApp({ REDIS_URL: redis.url, RATE_LIMIT_PER_MINUTE: String(LIMIT) });
    // Over TCP: message patterns are not rate-limited, so the limit is left whole for the test below.
    const u = uniqueUser('redisdown');
    const registered = await t.rpc.tcp.send<{ user: { id: string } }>('auth.register', u);
    user = { id: registered.user.id, email: u.email, password: u.password };
  });
  afterAll(async () => {
    await t?.close().catch(() => undefined);
    await redis?.destroy();
  });

  it('serves over Redis and reports it ready while Redis is up', async () => {
    const app = t!;
    expect(await within(app.rpc.redis.send('users.findById', { id: user.id }), 10_000)).toMatchObject({ id: user.id });
    const ready = await app.http().get('/health/ready').expect(200);
    expect(ready.body.details.redis).toMatchObject({ status: 'up' });
  });

  it('with Redis stopped: TCP keeps serving, readiness names Redis, and the rate limit still holds, from memory', async () => {
    const app = t!;
    await redis!.stop();

    const ready = await eventually('readiness to notice', 10_000, async () => {
      const res = await app.http().get('/health/ready');
      return res.status === 503 ? res : undefined;
    });
    expect(ready.body).toMatchObject({ statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: 'not ready: redis' });
    expect(ready.body.details).toMatchObject({ redis: { status: 'down' }, database: { status: 'up' }, outbox: { status: 'up' } });

    const login = await app.rpc.tcp.send<{ user: { id: string }; tokens: { accessToken: string } }>('auth.login', {
      email: user.email,
      password: user.password,
    });
    expect(login.user.id).toBe(user.id);
    expect(await app.rpc.tcp.send('auth.verify', { accessToken: login.tokens.accessToken })).toMatchObject({ userId: user.id });
    expect(await app.rpc.tcp.send('users.findByEmail', { email: user.email })).toMatchObject({ id: user.id });

    // One fixed window per minute: 2 × LIMIT + 2 requests cross at most one window boundary, so at
    // least one window sees more than LIMIT of them.
    const statuses: number[] = [];
    let refused: request.Response | undefined;
    for (let i = 0; i < 2 * LIMIT + 2; i += 1) {
      const res = await app
        .http()
        .post('/auth/password/forgot')
        .send({ email: `nobody${i}-${user.email}` });
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    expect(statuses.every((s) => s === 202 || s === 429)).toBe(true);
    expect(refused).toBeDefined();
    expect(refused!.body).toEqual({ statusCode: 429, code: 'TOO_MANY_REQUESTS', message: expect.any(String) });
    expect(Number(refused!.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('with Redis started again: the Redis transport, the events and readiness come back without a restart', async () => {
    const app = t!;
    await redis!.start();

    const reply = await eventually('a call over the Redis transport', RECONNECT_DEADLINE_MS, () =>
      within(app.rpc.redis.send<{ id: string }>('users.findById', { id: user.id }), 2_000),
    );
    expect(reply.id).toBe(user.id);
    await eventually('ready', RECONNECT_DEADLINE_MS, async () => (await app.http().get('/health/ready')).status === 200);

    // Domain events reach Redis again, as JSON on the events channel and as a Nest event pattern.
    const events = await listen(redis!.url, [`${app.config.redis!.prefix}.events`, 'user.logged_in']);
    try {
      await eventually('events published', RECONNECT_DEADLINE_MS, async () => {
        await app.rpc.tcp.send('auth.login', { email: user.email, password: user.password });
        await sleep(300);
        const channels = new Set(events.messages.filter((m) => JSON.stringify(m.body).includes(user.id)).map((m) => m.channel));
        return channels.size === 2;
      });
    } finally {
      events.close();
    }
    const pattern = events.messages.find((m) => m.channel === 'user.logged_in');
    expect(pattern?.body).toMatchObject({ pattern: 'user.logged_in', data: { type: 'user.logged_in', userId: user.id } });
  });
});

describe('started while Redis is down', () => {
  let redis: OwnRedis | undefined;
  let app: NestFastifyApplication | undefined;

  beforeAll(async () => {
    redis = await OwnRedis.create();
  });
  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await redis?.destroy();
  });

  it('starts and serves HTTP and TCP, not ready; once Redis is up, serves over Redis and is ready', async () => {
    const rpcPort = await freePort();
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      HOST: '127.0.0.1',
      PORT: '0',
      RPC_HOST: '127.0.0.1',
      RPC_PORT: String(rpcPort),
      DATABASE_URL: testDatabaseUrl(),
      DATABASE_POOL_SIZE: '3',
      REDIS_URL: redis!.url,
      REQUIRE_EMAIL_VERIFICATION: 'false',
    });
    ({ app } = await createGatehouseApp({ config, logDestination: testLogDestination() }));
    await app.startAllMicroservices();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const http = request(await app.getUrl());

    await http.get('/health/live').expect(200);
    const ready = await http.get('/health/ready').expect(503);
    expect(ready.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'not ready: redis' });
    const tcp = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: rpcPort } });
    const u = uniqueUser('redislate');
    try {
      const registered = await firstValueFrom(tcp.send<{ user: { id: string; email: string } }>('auth.register', u));
      expect(registered.user.email).toBe(u.email);

      await redis!.start();
      const client = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: redis!.port } });
      try {
        const found = await eventually('a call over the Redis transport', RECONNECT_DEADLINE_MS, () =>
          within(firstValueFrom(client.send<{ id: string } | null>('users.findByEmail', { email: u.email })), 2_000),
        );
        expect(found?.id).toBe(registered.user.id);
      } finally {
        await client.close();
      }
      await eventually('ready', RECONNECT_DEADLINE_MS, async () => (await http.get('/health/ready')).status === 200);
    } finally {
      await tcp.close();
    }
  });
});

describe('a Redis outage in the logs, and a shutdown during one (gatehouse as its own process)', () => {
  let redis: OwnRedis | undefined;
  let gh: GatehouseProcess | undefined;

  beforeAll(async () => {
    redis = await OwnRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await gh?.stop();
    await redis?.destroy();
  });

  it('logs the outage once per connection, not once per reconnection attempt, and exits 0 on SIGTERM while Redis is down', async () => {
    gh = await startGatehouseProcess({ REDIS_URL: redis!.url, LOG_LEVEL: 'info' });
    const p = gh;
    const u = uniqueUser('redislog');
    await p.http().post('/auth/register').send(u).expect(201);
    // Every Redis connection in use: the transport's, the rate limiter's, the events publisher's.
    await p.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const before = p.output().length;

    await redis!.stop();
    // Several reconnection attempts of every connection (they back off to 2 s).
    await sleep(7_000);
    // What was logged meanwhile, request lines aside, by component and message (numbers blanked).
    const lines = p
      .output()
      .slice(before)
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { context?: string; msg?: string; req?: unknown; rpc?: unknown })
      .filter((entry) => entry.req === undefined && entry.rpc === undefined);
    const byText = new Map<string, number>();
    for (const entry of lines) {
      const key = `${entry.context}: ${String(entry.msg).replace(/\d+/g, 'N')}`;
      byText.set(key, (byText.get(key) ?? 0) + 1);
    }
    // TCP keeps serving.
    expect(await p.rpc('users.findByEmail', { email: u.email })).toMatchObject({ email: u.email });
    expect(lines.length).toBeGreaterThan(0);
    // At most one line of each kind per connection (the transport has two).
    expect([...byText].filter(([, n]) => n > 2)).toEqual([]);

    const signalledAt = Date.now();
    p.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - signalledAt).toBeLessThan(10_000);
    expect(p.output()).toContain('shutdown complete');
    expect(p.output()).not.toContain('shutdown failed');
  });

  it('with Redis not answering (frozen, or cut off without a reset): logins are answered, and SIGTERM exits 0', async () => {
    await redis!.start();
    gh = await startGatehouseProcess({ REDIS_URL: redis!.url });
    const p = gh;
    const u = uniqueUser('redisfrozen');
    await p.http().post('/auth/register').send(u).expect(201);
    redis!.pause();
    try {
      // Rate-limited routes: the limit is counted in memory rather than waiting on Redis.
      for (let i = 0; i < 3; i += 1) {
        const login = await p.http().post('/auth/login').send({ email: u.email, password: u.password }).timeout(10_000);
        expect(login.status).toBe(200);
        expect(login.body.user.email).toBe(u.email);
      }
      const signalledAt = Date.now();
      p.kill('SIGTERM');
      const exit = await p.exited;
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(10_000);
    } finally {
      redis!.resume();
    }
  });
});
