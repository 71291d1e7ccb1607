import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

describe('embedded PostgreSQL (DATABASE_URL unset)', () => {
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-embedded-'));
    t = await startTestApp({ DATABASE_URL: '', DATA_DIR: dataDir, REDIS_URL: '' });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('boots, migrates and serves register → login → me → refresh → logout over REST and TCP', async () => {
    const u = uniqueUser('embedded');
    await t.http().post('/auth/register').send(u).expect(201);
    const login = await t.http().post('/auth/login').send({ username: u.username, password: u.password }).expect(200);
    const auth = { authorization: `Bearer ${login.body.tokens.accessToken}` };
    const me = await t.http().get('/auth/me').set(auth).expect(200);
    expect(me.body.user.email).toBe(u.email);
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: login.body.tokens.refreshToken }).expect(200);
    expect(refreshed.body.sessionId).toBe(login.body.sessionId);
    const viaTcp = await t.rpc.tcp.send<{ userId: string }>('auth.verify', { accessToken: refreshed.body.tokens.accessToken });
    expect(viaTcp.userId).toBe(me.body.user.id);
    await t
      .http()
      .post('/auth/logout')
      .set({ authorization: `Bearer ${refreshed.body.tokens.accessToken}` })
      .expect(204);
    await t
      .http()
      .get('/auth/me')
      .set({ authorization: `Bearer ${refreshed.body.tokens.accessToken}` })
      .expect(401);
    expect(await readdir(join(dataDir, 'pgdata'))).toContain('PG_VERSION');
  });
});
