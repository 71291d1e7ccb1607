import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { Client } from 'pg';
import { firstValueFrom } from 'rxjs';

import { signedInUser } from '../support/accounts';
import { GatehouseProcess, runKeysCli, startGatehouseProcess } from '../support/gatehouse-process';
import { OwnRedis } from '../support/own-servers';
import { adminQuery, databaseUrlFor } from '../support/services';
import { SmtpSink } from '../support/smtp-sink';
import { testDatabaseUrl, uniqueUser } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Two gatehouse processes on one database and one Redis, as behind a load balancer: they share no
 * memory, so whatever one does must reach the other through PostgreSQL or Redis. The Redis is their
 * own: message-pattern channels are not namespaced, so any other service subscribed on a shared Redis
 * could answer the calls made here.
 */
describe('two gatehouse processes on one database and one Redis', () => {
  const sink = new SmtpSink();
  const db = new Client({ connectionString: testDatabaseUrl() });
  let a: GatehouseProcess;
  let b: GatehouseProcess;
  let ownRedis: OwnRedis | undefined;
  let redis: ClientProxy;

  beforeAll(async () => {
    await sink.start();
    await db.connect();
    ownRedis = await OwnRedis.create();
    await ownRedis.start();
    // One deployment: the same Redis and prefix, the same mail server.
    const env = { REDIS_URL: ownRedis.url, REDIS_PREFIX: 'gatehouse-procs', SMTP_URL: sink.url };
    a = await startGatehouseProcess(env);
    b = await startGatehouseProcess(env);
    redis = ClientProxyFactory.create({ transport: Transport.REDIS, options: { host: '127.0.0.1', port: ownRedis.port } });
    await redis.connect();
  });
  afterAll(async () => {
    await redis?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await ownRedis?.destroy();
    await sink.stop();
    await db.end();
  });

  // The other instance learns of a revocation through the database's NOTIFY, within tens of
  // milliseconds (docs/performance.md, "Revocation across instances"); a loaded machine can let one
  // request through first, so these wait up to 1 s for the refusal, as the 50-logout test does.
  it('a session logged in on one and logged out on the other is refused by the first within 1 s', async () => {
    const s = await signedInUser(a, 'procout');
    const auth = { authorization: `Bearer ${s.accessToken}` };
    // a has verified the token and seen the session live (and may cache both).
    await a.http().get('/auth/me').set(auth).expect(200);
    expect(await a.rpc('auth.verify', { accessToken: s.accessToken })).toMatchObject({ userId: s.id, sessionId: s.sessionId });

    await b.http().post('/auth/logout').set(auth).expect(204);

    const me = await refusedWithin(1000, () => a.http().get('/auth/me').set(auth));
    expect(me.body).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await a.rpcFail('auth.verify', { accessToken: s.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
    await a.http().post('/auth/refresh').send({ refreshToken: s.refreshToken }).expect(401);
  });

  it('a logout is refused at once by the instance that revoked, and by the other within 1 s (50 logouts)', async () => {
    const u = uniqueUser('procwindow');
    await a.http().post('/auth/register').send(u).expect(201);
    const delays: number[] = [];
    for (let i = 0; i < 50; i += 1) {
      const res = await a.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
      const auth = { authorization: `Bearer ${res.body.tokens.accessToken}` };
      // b has the session live in its cache.
      await b.http().get('/auth/me').set(auth).expect(200);
      await a.http().post('/auth/logout').set(auth).expect(204);
      const loggedOut = performance.now();
      await a.http().get('/auth/me').set(auth).expect(401);
      while ((await b.http().get('/auth/me').set(auth)).status === 200) {
        if (performance.now() - loggedOut > 1000) throw new Error(`logout ${i}: still accepted by the other instance after 1 s`);
      }
      delays.push(performance.now() - loggedOut);
    }
    // The figures themselves are measured by the bench (docs/performance.md, "Revocation across instances").
    expect(delays).toHaveLength(50);
  });

  it('ending the other sessions on one instance ends them on the other within 1 s', async () => {
    const s = await signedInUser(a, 'procothers');
    const second = await a.rpc<{ tokens: { accessToken: string } }>('auth.loginWithUser', { userId: s.id });
    const auth2 = { authorization: `Bearer ${second.tokens.accessToken}` };
    await b.http().get('/auth/me').set(auth2).expect(200);
    await a.http().delete('/sessions').set('authorization', `Bearer ${s.accessToken}`).expect(204);
    expect((await refusedWithin(1000, () => b.http().get('/auth/me').set(auth2))).body).toMatchObject({ code: 'UNAUTHORIZED' });
    await b.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
  });

  it('a refresh token presented to both at the same time yields one new token, one lineage, and a live session', async () => {
    const s = await signedInUser(a, 'procrace');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).http().post('/auth/refresh').send({ refreshToken: s.refreshToken })),
    );
    const won = results.filter((r) => r.status === 200);
    expect(won).toHaveLength(1);
    // The losers raced within REFRESH_REUSE_INTERVAL: refused, without revoking the session.
    expect(results.filter((r) => r.status === 401).map((r) => r.body.code)).toEqual(Array(7).fill('INVALID_REFRESH_TOKEN'));
    expect(won[0].body.sessionId).toBe(s.sessionId);

    const sessions = await db.query(`SELECT id, revoked_at FROM sessions WHERE user_id = $1`, [s.id]);
    expect(sessions.rows).toEqual([{ id: s.sessionId, revoked_at: null }]);
    const live = await db.query(`SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL`, [
      s.sessionId,
    ]);
    expect(live.rows[0].n).toBe(1);

    // The winner's token carries on, on either instance.
    const next = await a.http().post('/auth/refresh').send({ refreshToken: won[0].body.tokens.refreshToken }).expect(200);
    await b.http().get('/auth/me').set('authorization', `Bearer ${next.body.tokens.accessToken}`).expect(200);
  });

  it('mail queued on either instance is delivered exactly once, though both workers run', async () => {
    const users = Array.from({ length: 10 }, (_, i) => ({ ...uniqueUser('procmail'), via: i % 2 ? a : b }));
    await Promise.all(
      users.map((u) =>
        u.via.http().post('/auth/register').send({ email: u.email, username: u.username, password: u.password }).expect(201),
      ),
    );
    await Promise.all(users.map((u) => (u.via === a ? b : a).http().post('/auth/password/forgot').send({ email: u.email }).expect(202)));
    const recipients = users.map((u) => u.email);

    const rows = async (): Promise<Array<{ id: string; status: string; attempts: number }>> =>
      (await db.query(`SELECT id, status, attempts FROM mail_outbox WHERE recipient = ANY($1)`, [recipients])).rows;
    await until('every mail marked sent', async () => {
      const all = await rows();
      return all.length === 20 && all.every((r) => r.status === 'sent');
    });

    // Each row was claimed by one worker, once (a claim counts an attempt).
    expect((await rows()).map((r) => r.attempts)).toEqual(Array(20).fill(1));
    const delivered = recipients.flatMap((email) => sink.to(email));
    expect(delivered).toHaveLength(20);
    const ids = (await rows()).map((r) => `<${r.id}@gatehouse>`).sort();
    expect(delivered.map((m) => m.messageId).sort()).toEqual(ids);
    for (const email of recipients) {
      const links = sink.to(email).flatMap((m) => m.links);
      expect(links.filter((l) => l.includes('/verify-email?'))).toHaveLength(1);
      expect(links.filter((l) => l.includes('/reset-password?'))).toHaveLength(1);
    }
  });

  it('each message-pattern call over Redis is handled by exactly one instance, though both are subscribed', async () => {
    const s = await signedInUser(b, 'procredis');
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => firstValueFrom(redis.send<{ sessionId: string }>('auth.loginWithUser', { userId: s.id }))),
    );
    expect(new Set(replies.map((r) => r.sessionId)).size).toBe(10);
    const count = await db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [s.id]);
    expect(count.rows[0].n).toBe(11);
  });

  it('share their keys: one JWKS, tokens accepted across, and both sign with the new key after `keys rotate`', async () => {
    const jwks = async (p: GatehouseProcess): Promise<unknown> => (await p.http().get('/.well-known/jwks.json').expect(200)).body;
    expect(await jwks(b)).toEqual(await jwks(a));

    const s = await signedInUser(a, 'prockeys');
    await b.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
    expect(await b.rpc('auth.verify', { accessToken: s.accessToken })).toMatchObject({ userId: s.id });
    const oldKid = decodeJwt(s.accessToken).header.kid;

    const out = await runKeysCli(['rotate'], { NODE_ENV: 'test', DATABASE_URL: testDatabaseUrl() });
    const newKid = /new ES256 signing key (\S+);/.exec(out)?.[1];
    expect(newKid).toBeDefined();
    expect(newKid).not.toBe(oldKid);

    const kidOfLoginOn = async (p: GatehouseProcess): Promise<unknown> =>
      decodeJwt(
        (await p.http().post('/auth/login').send({ email: s.email, password: 'correct horse battery staple' }).expect(200)).body.tokens
          .accessToken,
      ).header.kid;
    await until(
      'both instances signing with the new key',
      async () => (await kidOfLoginOn(a)) === newKid && (await kidOfLoginOn(b)) === newKid,
    );

    const [ka, kb] = await Promise.all([jwks(a), jwks(b)]);
    expect(kb).toEqual(ka);
    expect((ka as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
    // Tokens signed before the rotation still verify everywhere until the old key is retired.
    await b.http().get('/auth/me').set('authorization', `Bearer ${s.accessToken}`).expect(200);
    const fresh = await signedInUser(b, 'prockeys2');
    expect(decodeJwt(fresh.accessToken).header.kid).toBe(newKid);
    await a.http().get('/auth/me').set('authorization', `Bearer ${fresh.accessToken}`).expect(200);
  });
});

describe('instances starting together on a new database', () => {
  const name = `gatehouse_test_fresh_${process.pid}_${Date.now().toString(36)}`;
  let started: GatehouseProcess[] = [];

  beforeAll(() => adminQuery(`CREATE DATABASE ${name}`));
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop()));
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  it('migrate it once between them, agree on one signing key, and all start', async () => {
    const env = { DATABASE_URL: databaseUrlFor(name), REDIS_URL: '' };
    const results = await Promise.allSettled([1, 2, 3].map(() => startGatehouseProcess(env)));
    started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason).slice(0, 2000)] : []))).toEqual([]);

    for (const p of started) await p.http().get('/health/ready').expect(200);
    const db = new Client({ connectionString: databaseUrlFor(name) });
    await db.connect();
    try {
      const twice = await db.query('SELECT name FROM migrations GROUP BY name HAVING count(*) > 1');
      expect(twice.rows).toEqual([]);
      const current = await db.query('SELECT count(*)::int AS n FROM signing_keys WHERE current');
      expect(current.rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
    const sets = await Promise.all(started.map(async (p) => (await p.http().get('/.well-known/jwks.json').expect(200)).body));
    expect(sets[1]).toEqual(sets[0]);
    expect(sets[2]).toEqual(sets[0]);
  });
});

/** Repeats the request until it is refused with 401, for at most `ms`; the refusal's response. */
async function refusedWithin(
  ms: number,
  request: () => Promise<{ status: number; body: { code?: string } }>,
): Promise<{ status: number; body: { code?: string } }> {
  const start = performance.now();
  for (;;) {
    const res = await request();
    if (res.status === 401) return res;
    if (res.status !== 200) throw new Error(`expected 200 until refused, then 401; got ${res.status}`);
    if (performance.now() - start > ms) throw new Error(`still accepted after ${ms} ms`);
  }
}
