import type { Socket } from 'node:net';

import { RevocationFeed } from '../../src/sessions/revocation-feed.service';
import { signedInUser } from '../support/accounts';
import { startTestApp, TestApp } from '../support/test-app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Two instances in one process, for what needs their insides: the revocation listener's connection.
 * What instances do for clients (logout, refresh races, mail, keys, Redis calls) is tested on separate
 * processes in instances-processes.e2e-spec.ts.
 */
describe('two instances on one database: the revocation listener', () => {
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

  it('with its listener connection killed, an instance stops trusting its cache and still refuses revoked sessions', async () => {
    const s = await signedInUser(a, 'multi');
    const auth = { authorization: `Bearer ${s.accessToken}` };
    await b.http().get('/auth/me').set(auth).expect(200);
    // Kill every listener connection of this test database (a's and b's).
    await a.db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-listener' AND datname = current_database()`,
    );
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
    const client = (feed as unknown as { connection?: { client: { connection: { stream: Socket } } } }).connection?.client;
    // Like a half-open TCP connection: nothing more is read from it, and nothing fails.
    client?.connection.stream.pause();
    for (let i = 0; i < 100 && feed.generation === before; i += 1) await sleep(50);
    expect(feed.generation).not.toBe(before);
    for (let i = 0; i < 100 && feed.generation === undefined; i += 1) await sleep(50);
    expect(feed.generation).toBeGreaterThan(before!);
  });
});
