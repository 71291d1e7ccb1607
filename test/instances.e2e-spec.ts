import type { Socket } from 'node:net';
import { RevocationFeed } from '../src/sessions/revocation-feed.service';
import { startTestApp, TestApp, uniqueUser } from './support/test-app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('two instances on one database', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    // One deployment: both instances share the Redis prefix.
    const env = { REDIS_PREFIX: `gatehouse-test-multi-${process.pid}` };
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  async function loginOn(t: TestApp): Promise<{ accessToken: string; refreshToken: string; sessionId: string }> {
    const u = uniqueUser('multi');
    await t.http().post('/auth/register').send(u).expect(201);
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    return { ...res.body.tokens, sessionId: res.body.sessionId };
  }

  it('share one signing key: a token from one is accepted by the other', async () => {
    const s = await loginOn(a);
    await b.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
    const [ka, kb] = await Promise.all([a.http().get('/.well-known/jwks.json'), b.http().get('/.well-known/jwks.json')]);
    expect(kb.body).toEqual(ka.body);
  });

  it('a logout on one is refused by the other at once, though the other had the session cached', async () => {
    expect(b.app.get(RevocationFeed).generation).toBeDefined();
    const s = await loginOn(a);
    const auth = { authorization: `Bearer ${s.accessToken}` };
    // Warm b's caches (verified token and live session).
    await b.http().get('/auth/me').set(auth).expect(200);
    await b.http().get('/auth/me').set(auth).expect(200);
    await a.http().post('/auth/logout').set(auth).expect(204);
    await b.http().get('/auth/me').set(auth).expect(401);
    expect(await b.rpc.tcp.fail('auth.verify', { accessToken: s.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('revoking other sessions on one instance reaches the other at once', async () => {
    const s = await loginOn(a);
    const u = await a.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
    const second = await a.rpc.tcp.send<{ tokens: { accessToken: string } }>('auth.loginWithUser', { userId: u.body.user.id });
    const auth2 = { authorization: `Bearer ${second.tokens.accessToken}` };
    await b.http().get('/auth/me').set(auth2).expect(200);
    await a.http().delete('/sessions').set('authorization', `Bearer ${s.accessToken}`).expect(204);
    await b.http().get('/auth/me').set(auth2).expect(401);
  });

  it('with its listener connection killed, an instance stops trusting its cache and still refuses revoked sessions', async () => {
    const s = await loginOn(a);
    const auth = { authorization: `Bearer ${s.accessToken}` };
    await b.http().get('/auth/me').set(auth).expect(200);
    // Kill every listener connection of this test database (a's and b's).
    await a.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-listener' AND datname = current_database()`);
    for (let i = 0; i < 50 && b.app.get(RevocationFeed).generation !== undefined; i += 1) await sleep(10);
    // The revocation's notification has nobody to reach on b; b must ask the database instead.
    await a.http().post('/auth/logout').set(auth).expect(204);
    await b.http().get('/auth/me').set(auth).expect(401);
    // And it reconnects by itself.
    for (let i = 0; i < 100 && b.app.get(RevocationFeed).generation === undefined; i += 1) await sleep(50);
    expect(b.app.get(RevocationFeed).generation).toBeDefined();
  });

  it('notices a listener connection that silently stops delivering (its ping is not answered) and reconnects', async () => {
    const feed = b.app.get(RevocationFeed);
    const before = feed.generation;
    expect(before).toBeDefined();
    const client = (feed as unknown as { client?: { connection: { stream: Socket } } }).client;
    // Like a half-open TCP connection: nothing more is read from it, and nothing fails.
    client?.connection.stream.pause();
    for (let i = 0; i < 100 && feed.generation === before; i += 1) await sleep(50);
    expect(feed.generation).not.toBe(before);
    for (let i = 0; i < 100 && feed.generation === undefined; i += 1) await sleep(50);
    expect(feed.generation).toBeGreaterThan(before!);
  });

  it('each message over Redis is handled by exactly one instance, though both are subscribed', async () => {
    const s = await loginOn(a);
    const me = await a.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
    const userId: string = me.body.user.id;
    const replies = await Promise.all(Array.from({ length: 10 }, () => a.rpc.redis.send<{ sessionId: string }>('auth.loginWithUser', { userId })));
    expect(new Set(replies.map((r) => r.sessionId)).size).toBe(10);
    const rows = await a.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [userId]);
    expect(rows[0].n).toBe(11);
    // And a refresh over Redis rotates once: the reply is the winner's, never a loser's refusal.
    const next = await b.rpc.redis.send<{ tokens: { refreshToken: string } }>('auth.refresh', { refreshToken: s.refreshToken });
    expect(next.tokens.refreshToken).not.toBe(s.refreshToken);
  });

  it('a refresh race across both instances yields exactly one new token', async () => {
    const s = await loginOn(a);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).http().post('/auth/refresh').send({ refreshToken: s.refreshToken })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(9);
  });
});
