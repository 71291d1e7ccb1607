import { randomBytes } from 'node:crypto';

import { AccountErasureJob } from '../../src/account/account-erasure.job';
import { AuditService } from '../../src/audit/audit.service';
import { BackgroundTasks } from '../../src/platform/lifecycle/background-tasks.service';
import { sha256Hex } from '../../src/shared/crypto';
import { bearer, mailedToken, signedInUser, signIn, type SignedIn } from '../support/accounts';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A confirmed TOTP factor and three recovery codes (one used) for the user, written straight into
 * the second-factor tables; the stored secret (hex and base64) and code hashes, to look for.
 */
async function withSecondFactors(t: TestApp, userId: string): Promise<string[]> {
  const secret = randomBytes(48);
  await t.db.query(`INSERT INTO mfa_totp (user_id, secret_enc, confirmed_at) VALUES ($1, $2, now())`, [userId, secret]);
  const hashes = [0, 1, 2].map((i) => `$argon2id$v=19$m=19456,t=2,p=1$${randomBytes(16).toString('base64')}$code${i}`);
  for (const [i, hash] of hashes.entries()) {
    await t.db.query(`INSERT INTO mfa_recovery_codes (user_id, lookup, code_hash, used_at) VALUES ($1, $2, $3, $4)`, [
      userId,
      `look${i}`,
      hash,
      i === 0 ? new Date() : null,
    ]);
  }
  return [secret.toString('hex'), secret.toString('base64'), ...hashes];
}

/**
 * A reset link, a pending email change and second factors for a signed-in account, its background
 * work done and audited; the second factors' stored secrets, to look for.
 */
async function leaveTraces(t: TestApp, u: SignedIn): Promise<string[]> {
  await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
  await t
    .http()
    .post('/auth/email/change')
    .set(u.auth)
    .send({ newEmail: uniqueUser('elsewhere').email })
    .expect(202);
  await t.app.get(BackgroundTasks).settled();
  const secrets = await withSecondFactors(t, u.id);
  await t.app.get(AuditService).flushed();
  return secrets;
}

/** Every text-like column of every table of the schema, to look for an address in. */
async function textColumns(t: TestApp): Promise<Array<{ table: string; column: string }>> {
  return t.db.query(
    `SELECT table_name AS table, column_name AS column FROM information_schema.columns
      WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')
      ORDER BY table_name, column_name`,
  );
}

async function rowsHolding(t: TestApp, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const { table, column } of await textColumns(t)) {
    const [row] = await t.db.query(`SELECT count(*)::int AS n FROM "${table}" WHERE "${column}"::text ILIKE '%' || $1 || '%'`, [needle]);
    if (row.n > 0) found.push(`${table}.${column}: ${row.n}`);
  }
  return found;
}

describe('account export and deletion, over REST and TCP', () => {
  const sink = new SmtpSink();
  let t: TestApp;

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  describe('GET /auth/me/export and users.export', () => {
    it('holds the profile, the sessions, the audit entries and the second factors, and not one hash, token or secret', async () => {
      const u = await signedInUser(t, 'exporter', { connection: undefined });
      const second = await signIn(t, u);
      const factors = await leaveTraces(t, u);

      const res = await t.http().get('/auth/me/export').set(u.auth).expect(200);
      const body = res.body as Record<string, unknown> & { sessions: Array<{ id: string }>; auditLog: Array<{ type: string }> };
      expect(Object.keys(body).sort()).toEqual(['auditLog', 'generatedAt', 'secondFactors', 'sessions', 'user']);
      expect(Math.abs(Date.parse(body.generatedAt as string) - Date.now())).toBeLessThan(60_000);
      expect(body.user).toMatchObject({ id: u.id, email: u.email, displayName: null });
      expect(body.sessions.map((s) => s.id).sort()).toEqual([u.sessionId, second.sessionId].sort());
      expect(body.auditLog.map((e) => e.type)).toEqual(expect.arrayContaining(['user.registered', 'user.logged_in']));
      expect(body.secondFactors).toEqual({ totp: { enabled: true, confirmedAt: expect.any(String) }, recoveryCodesLeft: 2 });

      // Grey-box: no stored hash or secret of this user appears anywhere in the export, nor a raw token.
      const secrets: string[] = [u.password, u.accessToken, u.refreshToken, second.accessToken, second.refreshToken];
      const [user] = await t.db.query(`SELECT password_hash FROM users WHERE id = $1`, [u.id]);
      secrets.push(user.password_hash);
      const hashes = await t.db.query(
        `SELECT token_hash AS v FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)
         UNION ALL SELECT token_hash FROM email_verification_tokens WHERE user_id = $1
         UNION ALL SELECT token_hash FROM password_reset_tokens WHERE user_id = $1
         UNION ALL SELECT token_hash FROM email_change_tokens WHERE user_id = $1`,
        [u.id],
      );
      expect(hashes.length).toBeGreaterThanOrEqual(5);
      secrets.push(...hashes.map((h: { v: string }) => h.v));
      secrets.push(...factors);
      const text = res.text;
      for (const secret of secrets) expect({ leaked: text.includes(secret) }).toEqual({ leaked: false });
      expect(text).not.toMatch(/argon2|password_?hash|token_?hash|secret/i);
      expect(sha256Hex(u.refreshToken)).toBe(hashes.find((h: { v: string }) => h.v === sha256Hex(u.refreshToken))?.v);

      const viaTcp = await t.rpc.tcp.send<Record<string, unknown>>('users.export', { accessToken: u.accessToken });
      expect(Object.keys(viaTcp).sort()).toEqual(['auditLog', 'generatedAt', 'secondFactors', 'sessions', 'user']);
      await t.app.get(AuditService).flushed();
      const [exported] = await t.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE user_id = $1 AND type = 'user.data_exported'`, [
        u.id,
      ]);
      expect(exported.n).toBe(2);
    });

    it('needs a token', async () => {
      await t.http().get('/auth/me/export').expect(401);
      expect(await t.rpc.tcp.fail('users.export', {})).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    });
  });

  describe('POST /auth/me/delete and users.delete, within the grace period', () => {
    const loginBody = async (email: string, password: string): Promise<{ status: number; body: unknown; ms: number }> => {
      const started = process.hrtime.bigint();
      const res = await t.http().post('/auth/login').send({ email, password });
      return { status: res.status, body: res.body, ms: Number(process.hrtime.bigint() - started) / 1e6 };
    };

    it('ends every session at once, mails a notice, and login answers exactly like an unknown user', async () => {
      const u = await signedInUser(t, 'leaver');
      const other = await signIn(t, u);
      const res = await t.http().post('/auth/me/delete').set(u.auth).expect(202);
      const eraseAfter = Date.parse(res.body.eraseAfter as string);
      expect(Object.keys(res.body)).toEqual(['eraseAfter']);
      expect(Math.abs(eraseAfter - (Date.now() + 7 * 86400_000))).toBeLessThan(60_000);

      // Revoked at once, also for siblings asking auth.verify.
      await t.http().get('/auth/me').set(u.auth).expect(401);
      await t.http().get('/auth/me').set(other.auth).expect(401);
      expect(await t.rpc.tcp.fail('auth.verify', { accessToken: other.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
      expect((await t.http().post('/auth/refresh').send({ refreshToken: other.refreshToken }).expect(401)).body.code).toBe(
        'INVALID_REFRESH_TOKEN',
      );
      const rows = await t.db.query(`SELECT deactivated_at IS NOT NULL AS deactivated, erase_after FROM users WHERE id = $1`, [u.id]);
      expect(rows[0].deactivated).toBe(true);
      expect(rows[0].erase_after.getTime()).toBe(eraseAfter);
      for (let i = 0; i < 300 && !sink.to(u.email).some((m) => m.subject === 'Your account is being deleted'); i += 1) await sleep(50);
      const [mail] = sink.to(u.email).filter((m) => m.subject === 'Your account is being deleted');
      expect(mail.text).toContain('erased');
      await sink.waitFor(2, u.email);

      // The right password now answers like an address nobody has: same status, same body, same cost.
      const unknown = uniqueUser('nobody');
      const deleted: number[] = [];
      const missing: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const a = await loginBody(u.email, u.password);
        const b = await loginBody(unknown.email, u.password);
        expect(a.status).toBe(401);
        expect(a.body).toEqual(b.body);
        expect(a.body).toEqual({ statusCode: 401, code: 'INVALID_CREDENTIALS', message: 'login failed' });
        deleted.push(a.ms);
        missing.push(b.ms);
      }
      // Both verify one (dummy) hash: within a factor of two of each other on a busy machine.
      const ratio = median(deleted) / median(missing);
      expect(ratio).toBeGreaterThan(0.5);
      expect(ratio).toBeLessThan(2);
      expect(await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).toEqual({
        statusCode: 401,
        code: 'INVALID_CREDENTIALS',
        message: 'login failed',
      });
      // A trusted caller cannot open a session for it, and an admin cannot re-activate it.
      expect(await t.rpc.tcp.fail('auth.loginWithUser', { userId: u.id })).toMatchObject({ code: 'USER_DEACTIVATED' });
      expect(await t.rpc.tcp.fail('users.activate', { id: u.id })).toMatchObject({ code: 'NOT_FOUND' });
      // A reset link is not mailed for it.
      const before = sink.to(u.email).length;
      await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
      await t.app.get(BackgroundTasks).settled();
      await sleep(300);
      expect(sink.to(u.email).length).toBe(before);
      await t.app.get(AuditService).flushed();
      const audit = await t.db.query(`SELECT details FROM audit_log WHERE user_id = $1 AND type = 'user.deletion_requested'`, [u.id]);
      expect(audit).toEqual([{ details: { eraseAfter: res.body.eraseAfter } }]);
    });

    it("works over TCP (users.delete); the deleted account's token is refused after it", async () => {
      const u = await signedInUser(t.rpc.tcp, 'rpcleaver');
      const reply = await t.rpc.tcp.send<{ eraseAfter: string }>('users.delete', { accessToken: u.accessToken });
      expect(Object.keys(reply)).toEqual(['eraseAfter']);
      expect(await t.rpc.tcp.fail('users.delete', { accessToken: u.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).toMatchObject({ code: 'INVALID_CREDENTIALS' });
    });

    it('refuses an impersonated session (403), for deletion and email change alike', async () => {
      const admin = await signedInUser(t, 'impadmin');
      await t.db.query(`UPDATE users SET roles = '{user,admin}' WHERE id = $1`, [admin.id]);
      const target = await signedInUser(t, 'imptarget');
      const imp = await t.http().post('/auth/impersonate').set(admin.auth).send({ userId: target.id }).expect(200);
      const auth = { authorization: `Bearer ${imp.body.tokens.accessToken as string}` };
      // Refused as every "recent" route refuses an impersonation: it proved none of the user's factors.
      expect((await t.http().post('/auth/me/delete').set(auth).expect(403)).body).toEqual({
        statusCode: 403,
        code: 'FORBIDDEN',
        message: 'an impersonated session cannot do this',
      });
      expect(await t.rpc.tcp.fail('users.delete', { accessToken: imp.body.tokens.accessToken })).toMatchObject({ code: 'FORBIDDEN' });
      expect(
        (
          await t
            .http()
            .post('/auth/email/change')
            .set(auth)
            .send({ newEmail: uniqueUser('imp').email })
            .expect(403)
        ).body.code,
      ).toBe('FORBIDDEN');
      await t.http().get('/auth/me').set(target.auth).expect(200);
      await t.db.query(`UPDATE users SET roles = '{user}' WHERE id = $1`, [admin.id]);
    });

    it('refuses the last active admin with 409 LAST_ADMIN, and lets an admin go while another remains', async () => {
      const first = await signedInUser(t, 'admin1');
      const second = await signedInUser(t, 'admin2');
      await t.db.query(`UPDATE users SET roles = '{user,admin}' WHERE id = ANY($1::uuid[])`, [[first.id, second.id]]);
      // Other suites' admins share this database: park them while this test needs to be the last one.
      const parked: Array<{ id: string }> = await t.db.query(
        `UPDATE users SET roles = array_replace(roles, 'admin', 'admin-parked')
          WHERE 'admin' = ANY(roles) AND id <> ALL($1::uuid[]) RETURNING id`,
        [[first.id, second.id]],
      );
      try {
        await t.http().post('/auth/me/delete').set(second.auth).expect(202);
        const res = await t.http().post('/auth/me/delete').set(first.auth).expect(409);
        expect(res.body).toEqual({ statusCode: 409, code: 'LAST_ADMIN', message: 'the last active admin cannot delete the account' });
        await t.http().get('/auth/me').set(first.auth).expect(200);
        expect(await t.rpc.tcp.fail('users.delete', { accessToken: first.accessToken })).toMatchObject({
          statusCode: 409,
          code: 'LAST_ADMIN',
        });
      } finally {
        await t.db.query(`UPDATE users SET roles = array_replace(roles, 'admin-parked', 'admin') WHERE id = ANY($1::uuid[])`, [
          parked.map((p) => p.id),
        ]);
      }
    });
  });
});

describe('recent authentication on export, deletion and email change', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t.close();
  });

  /** A signed-in account whose last proof of a factor is an hour old: the session's auth_time, carried by a refreshed token. */
  async function staleSession(prefix: string): Promise<SignedIn & { stale: string }> {
    const u = await signedInUser(t, prefix);
    await t.db.query(`UPDATE sessions SET auth_time = now() - interval '1 hour' WHERE id = $1`, [u.sessionId]);
    const refreshed = await t.http().post('/auth/refresh').send({ refreshToken: u.refreshToken }).expect(200);
    return { ...u, stale: refreshed.body.tokens.accessToken as string, refreshToken: refreshed.body.tokens.refreshToken as string };
  }

  const REAUTH = { statusCode: 401, code: 'REAUTH_REQUIRED', message: 'please re-authenticate: this needs a recent sign-in' };

  it.each([
    ['GET /auth/me/export', 'get', '/auth/me/export', undefined, 200, 'users.export'],
    ['POST /auth/email/change', 'post', '/auth/email/change', 'newEmail', 202, 'auth.email.change'],
    ['POST /auth/me/delete', 'post', '/auth/me/delete', undefined, 202, 'users.delete'],
  ] as const)(
    '%s answers 401 REAUTH_REQUIRED to an old auth_time (its pattern too), and works after /auth/reauthenticate',
    async (_name, method, path, field, ok, pattern) => {
      const u = await staleSession('stale');
      const body = field ? { [field]: uniqueUser('fresh').email } : undefined;
      const call = (token: string) => {
        const req = method === 'get' ? t.http().get(path) : t.http().post(path);
        return body ? req.set(bearer(token)).send(body) : req.set(bearer(token));
      };
      expect((await call(u.stale).expect(401)).body).toEqual(REAUTH);
      expect(await t.rpc.tcp.fail(pattern, { accessToken: u.stale, ...body })).toEqual(REAUTH);
      // Nothing happened: the account is as it was.
      expect((await t.db.query(`SELECT erase_after FROM users WHERE id = $1`, [u.id]))[0].erase_after).toBeNull();
      expect(await t.db.query(`SELECT 1 FROM email_change_tokens WHERE user_id = $1`, [u.id])).toEqual([]);

      const again = await t.http().post('/auth/reauthenticate').set(bearer(u.stale)).send({ password: u.password }).expect(200);
      await call(again.body.tokens.accessToken as string).expect(ok);
    },
  );
});

describe('account erasure after the grace period (ACCOUNT_DELETION_GRACE=0)', () => {
  const sink = new SmtpSink();
  let t: TestApp;

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ SMTP_URL: sink.url, ACCOUNT_DELETION_GRACE: '0' });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  /** An account that left traces in every table that can hold its address. */
  async function busyAccount(): Promise<SignedIn> {
    const u = await signedInUser(t, 'eraseme', { connection: undefined });
    await signIn(t, u);
    await t.http().post('/auth/login').set('user-agent', 'Erasable/1.0').send({ email: u.email, password: 'wrong password here' });
    await t.http().patch('/auth/me').set(u.auth).send({ displayName: 'Soon Gone' }).expect(200);
    await leaveTraces(t, u);
    await mailedToken(sink, u.email, '/reset-password');
    return u;
  }

  it('erases every row holding the address, keeps the audit events without addresses, and the job runs by itself', async () => {
    const u = await busyAccount();
    expect((await rowsHolding(t, u.email)).length).toBeGreaterThan(3);
    const [{ n: withIp }] = await t.db.query(`SELECT count(*)::int AS n FROM audit_log WHERE user_id = $1 AND ip IS NOT NULL`, [u.id]);
    expect(withIp).toBeGreaterThan(0);

    await t.http().post('/auth/me/delete').set(u.auth).expect(202);
    // The notice goes out first; the job then erases the account on its own.
    await sink.waitFor(1, u.email);
    const deadline = Date.now() + 15_000;
    while ((await t.db.query(`SELECT 1 FROM users WHERE id = $1`, [u.id])).length > 0) {
      if (Date.now() > deadline) throw new Error('the account was not erased');
      await sleep(100);
    }
    expect(sink.to(u.email).map((m) => m.subject)).toContain('Your account is being deleted');
    await t.app.get(AuditService).flushed();

    expect(await rowsHolding(t, u.email)).toEqual([]);
    expect(await rowsHolding(t, u.username)).toEqual([]);
    expect(await rowsHolding(t, 'Soon Gone')).toEqual([]);
    expect(await rowsHolding(t, 'Erasable/1.0')).toEqual([]);
    for (const table of [
      'sessions',
      'email_verification_tokens',
      'password_reset_tokens',
      'email_change_tokens',
      'mfa_totp',
      'mfa_recovery_codes',
      'mfa_challenges',
    ]) {
      expect({ table, rows: await t.db.query(`SELECT 1 FROM ${table} WHERE user_id = $1`, [u.id]) }).toEqual({ table, rows: [] });
    }
    const audit: Array<{ type: string; ip: string | null; user_agent: string | null }> = await t.db.query(
      `SELECT type, ip, user_agent FROM audit_log WHERE user_id = $1 ORDER BY at`,
      [u.id],
    );
    expect(audit.map((e) => e.type)).toEqual(expect.arrayContaining(['user.registered', 'user.deletion_requested', 'user.deleted']));
    expect(audit.filter((e) => e.ip !== null || e.user_agent !== null)).toEqual([]);

    // Afterwards the address is simply unknown, and free again.
    expect((await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(401)).body.code).toBe(
      'INVALID_CREDENTIALS',
    );
    await t.http().post('/auth/register').send({ email: u.email, password: u.password }).expect(201);
  });

  it('erases each account once when several runs race', async () => {
    const a = await busyAccount();
    const b = await busyAccount();
    // Marked due without the request's wake-up, then several runs at once (as several instances would).
    await t.db.query(`UPDATE users SET erase_after = now(), deactivated_at = now() WHERE id = ANY($1::uuid[])`, [[a.id, b.id]]);
    await t.db.query(`UPDATE mail_outbox SET status = 'sent' WHERE recipient = ANY($1::text[])`, [[a.email, b.email]]);
    const job = t.app.get(AccountErasureJob);
    const gone = async (): Promise<number> => (await t.db.query(`SELECT 1 FROM users WHERE id = ANY($1::uuid[])`, [[a.id, b.id]])).length;
    await Promise.all([job.runOnce(), job.runOnce(), job.runOnce()]);
    for (let i = 0; i < 50 && (await gone()) > 0; i += 1) await sleep(100);
    expect(await gone()).toBe(0);
    await t.app.get(AuditService).flushed();
    const [deleted] = await t.db.query(
      `SELECT count(*)::int AS n FROM audit_log WHERE type = 'user.deleted' AND user_id = ANY($1::uuid[])`,
      [[a.id, b.id]],
    );
    expect(deleted.n).toBe(2);
    const metrics = await t.http().get('/metrics').expect(200);
    expect(metrics.text).toMatch(/gatehouse_account_deletions_total\{stage="erased"\} [1-9]/);
  });
});
