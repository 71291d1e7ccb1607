import { signedInUser } from '../support/accounts';
import { startTestApp, TestApp } from '../support/test-app';

interface RefreshBody {
  code?: string;
  tokens: { accessToken: string; refreshToken: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('refresh rotation, reuse detection and races (REFRESH_REUSE_INTERVAL=1)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ REFRESH_REUSE_INTERVAL: '1' });
  });
  afterAll(() => t.close());

  async function refresh(refreshToken: string): Promise<{ status: number; body: RefreshBody }> {
    const res = await t.http().post('/auth/refresh').send({ refreshToken });
    return { status: res.status, body: res.body };
  }

  it('a rotated-out token inside the interval is refused and the session lives', async () => {
    const s = await signedInUser(t, 'rot');
    const next = await refresh(s.refreshToken);
    expect(next.status).toBe(200);
    const reused = await refresh(s.refreshToken);
    expect(reused).toEqual({ status: 401, body: { statusCode: 401, code: 'INVALID_REFRESH_TOKEN', message: expect.any(String) } });
    const live = await refresh(next.body.tokens.refreshToken);
    expect(live.status).toBe(200);
    await t.http().get('/auth/me').set('authorization', `Bearer ${live.body.tokens.accessToken}`).expect(200);
  });

  it('a rotated-out token after the interval revokes the whole session', async () => {
    const s = await signedInUser(t, 'rot');
    const next = await refresh(s.refreshToken);
    expect(next.status).toBe(200);
    await sleep(1300);
    const reused = await refresh(s.refreshToken);
    expect(reused.status).toBe(401);
    expect(reused.body.code).toBe('REFRESH_TOKEN_REUSED');
    // The thief's token and the victim's fresh one are both dead now, and so is every access token.
    expect((await refresh(next.body.tokens.refreshToken)).body.code).toBe('INVALID_REFRESH_TOKEN');
    await t.http().get('/auth/me').set('authorization', `Bearer ${next.body.tokens.accessToken}`).expect(401);
    const rows = await t.db.query('SELECT revoke_reason FROM sessions WHERE id = $1', [s.sessionId]);
    expect(rows[0].revoke_reason).toBe('refresh_token_reused');
    // Presenting it once more after revocation is a plain invalid token.
    expect((await refresh(s.refreshToken)).body.code).toBe('INVALID_REFRESH_TOKEN');
  });

  it('reuse of a token two generations old is detected too', async () => {
    const s = await signedInUser(t, 'rot');
    const g1 = await refresh(s.refreshToken);
    const g2 = await refresh(g1.body.tokens.refreshToken);
    expect(g2.status).toBe(200);
    await sleep(1300);
    expect((await refresh(s.refreshToken)).body.code).toBe('REFRESH_TOKEN_REUSED');
  });

  it('10 concurrent refreshes with one token yield exactly one new token: never two live lineages', async () => {
    const s = await signedInUser(t, 'rot');
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(s.refreshToken)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(results.filter((r) => r.status === 401).map((r) => r.body.code)).toEqual(Array(9).fill('INVALID_REFRESH_TOKEN'));
    const live = await t.db.query('SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL', [
      s.sessionId,
    ]);
    expect(live[0].n).toBe(1);
    const all = await t.db.query('SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id = $1', [s.sessionId]);
    expect(all[0].n).toBe(2);
    // The racers inside the interval did not kill the session.
    expect((await refresh(ok[0].body.tokens.refreshToken)).status).toBe(200);
  });

  it('10 concurrent refreshes over TCP behave the same', async () => {
    const s = await signedInUser(t, 'rot');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => t.rpc.tcp.send('auth.refresh', { refreshToken: s.refreshToken })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const reasons = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
    expect(reasons).toEqual(Array(9).fill('INVALID_REFRESH_TOKEN'));
  });

  it('never stores a refresh token in clear', async () => {
    const s = await signedInUser(t, 'rot');
    const rows = await t.db.query(
      `SELECT count(*)::int AS n FROM refresh_tokens WHERE token_hash = $1 OR token_hash LIKE '%' || $1 || '%'`,
      [s.refreshToken],
    );
    expect(rows[0].n).toBe(0);
  });
});
