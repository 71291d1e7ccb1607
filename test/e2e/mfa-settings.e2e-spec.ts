import { Redis } from 'ioredis';
import { Secret, TOTP } from 'otpauth';

import { AuditService } from '../../src/audit/audit.service';
import { RecoveryCodesService } from '../../src/mfa/recovery-codes.service';
import { TOTP_PARAMS } from '../../src/mfa/totp';
import { bearer, signedInUser, signIn, type LoginBody, type SignedIn } from '../support/accounts';
import { TEST_REDIS_URL } from '../support/services';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, type TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

interface Setup {
  secret: string;
  otpauthUrl: string;
}

const claimsOf = (accessToken: string): Record<string, unknown> => decodeJwt(accessToken).payload;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits, when needed, so that at least 3 s are left in the current 30-second step (never its last 2 s). */
async function roomInStep(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 3_000) await sleep(left + 500);
}

/** The code of the setup's secret for now + offset, computed from the base32 secret as an authenticator app does. */
const codeAt = (secret: string, offsetMs = 0): string =>
  TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(secret), timestamp: Date.now() + offsetMs });

const RECOVERY_CODE = /^[23456789abcdefghjkmnpqrstuvwxyz]{4}-[23456789abcdefghjkmnpqrstuvwxyz]{4}-[23456789abcdefghjkmnpqrstuvwxyz]{4}$/;

/** Managing one's second factor over REST and TCP: status, TOTP setup and confirmation, removal, recovery codes, admin reset. */
describe('second-factor settings', () => {
  const sink = new SmtpSink();
  const root = { email: `mfa-root-${process.pid}-${Date.now()}@example.com`, password: 'root admin password here' };
  let t: TestApp;
  let admin: LoginBody;
  /** What sibling apps receive on the events channel. */
  let subscriber: Redis;
  const published: Array<{ type: string; userId: string; sessionId?: string; reason?: string }> = [];

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ SMTP_URL: sink.url, BOOTSTRAP_ADMIN_EMAIL: root.email, BOOTSTRAP_ADMIN_PASSWORD: root.password });
    subscriber = new Redis(TEST_REDIS_URL);
    subscriber.on('message', (_channel: string, message: string) => published.push(JSON.parse(message) as (typeof published)[number]));
    await subscriber.subscribe(`${t.config.redis?.prefix ?? 'no-redis'}.events`);
    admin = (await t.http().post('/auth/login').send(root).expect(200)).body as LoginBody;
  });
  afterAll(async () => {
    subscriber.disconnect();
    await t.close();
    await sink.stop();
  });

  const setup = async (s: { auth: { authorization: string } }): Promise<Setup> =>
    (await t.http().post('/auth/mfa/totp/setup').set(s.auth).expect(200)).body as Setup;
  const confirm = (s: { auth: { authorization: string } }, code: string) =>
    t.http().post('/auth/mfa/totp/confirm').set(s.auth).send({ code });
  const status = async (accessToken: string) =>
    (await t.http().get('/auth/mfa').set(bearer(accessToken)).expect(200)).body as Record<string, unknown>;
  const refresh = async (refreshToken: string): Promise<LoginBody> =>
    (await t.http().post('/auth/refresh').send({ refreshToken }).expect(200)).body as LoginBody;
  const audit = async (userId: string, type: string) => {
    await t.app.get(AuditService).flushed();
    return t.db.query(`SELECT session_id, actor_id, details FROM audit_log WHERE user_id = $1 AND type = $2 ORDER BY at`, [userId, type]);
  };
  /** Makes the session's last proof of a factor 10 minutes old; its next refresh carries that auth_time. */
  const ageAuthTime = (sessionId: string) =>
    t.db.query(`UPDATE sessions SET auth_time = now() - interval '10 minutes' WHERE id = $1`, [sessionId]);

  /** A signed-in user with TOTP on, and the session's refreshed pair (aal 2, recent). */
  async function userWithTotp(prefix: string): Promise<{ s: SignedIn; secret: string; recoveryCodes: string[]; raised: LoginBody }> {
    const s = await signedInUser(t, prefix);
    const { secret } = await setup(s);
    await roomInStep();
    const { recoveryCodes } = (await confirm(s, codeAt(secret)).expect(200)).body as { recoveryCodes: string[] };
    return { s, secret, recoveryCodes, raised: await refresh(s.refreshToken) };
  }

  describe('status and setup', () => {
    it('nothing is on at first; passkeys is an empty list', async () => {
      const s = await signedInUser(t, 'mfastatus');
      expect(await status(s.accessToken)).toEqual({ totp: { enabled: false, confirmedAt: null }, recoveryCodesLeft: 0, passkeys: [] });
      expect(await t.rpc.tcp.send('auth.mfa.status', { accessToken: s.accessToken })).toEqual({
        totp: { enabled: false, confirmedAt: null },
        recoveryCodesLeft: 0,
        passkeys: [],
      });
      await t.http().get('/auth/mfa').expect(401);
    });

    it('a setup answers the secret and its otpauth URL and stays pending; another setup replaces it', async () => {
      const s = await signedInUser(t, 'mfasetup');
      const first = await setup(s);
      expect(first.secret).toMatch(/^[A-Z2-7]{32}$/);
      const url = new URL(first.otpauthUrl);
      expect(url.protocol).toBe('otpauth:');
      expect(url.searchParams.get('secret')).toBe(first.secret);
      expect(decodeURIComponent(url.pathname)).toContain(s.email);
      expect(await status(s.accessToken)).toMatchObject({ totp: { enabled: false, confirmedAt: null } });
      // A pending setup never stands in the way of a login (meaningful once the login gate asks for factors).
      expect((await signIn(t, s)).tokens.accessToken).toEqual(expect.any(String));

      const second = await t.rpc.tcp.send<Setup>('auth.mfa.totp.setup', { accessToken: s.accessToken });
      expect(second.secret).not.toBe(first.secret);
      await roomInStep();
      expect((await confirm(s, codeAt(first.secret)).expect(401)).body).toEqual({
        statusCode: 401,
        code: 'INVALID_MFA_CODE',
        message: 'invalid code',
      });
      await confirm(s, codeAt(second.secret)).expect(200);
    });

    it('needs a recent sign-in: an old auth_time is REAUTH_REQUIRED over REST and TCP, until re-authenticated', async () => {
      const s = await signedInUser(t, 'mfarecent');
      await ageAuthTime(s.sessionId);
      const aged = await refresh(s.refreshToken);
      expect(Date.now() / 1000 - (claimsOf(aged.tokens.accessToken).auth_time as number)).toBeGreaterThan(500);
      const refused = await t.http().post('/auth/mfa/totp/setup').set(bearer(aged.tokens.accessToken)).expect(401);
      expect(refused.body).toEqual({ statusCode: 401, code: 'REAUTH_REQUIRED', message: expect.any(String) });
      expect(await t.rpc.tcp.fail('auth.mfa.totp.setup', { accessToken: aged.tokens.accessToken })).toMatchObject({
        statusCode: 401,
        code: 'REAUTH_REQUIRED',
      });
      const again = (
        await t.http().post('/auth/reauthenticate').set(bearer(aged.tokens.accessToken)).send({ password: s.password }).expect(200)
      ).body as LoginBody;
      await t.http().post('/auth/mfa/totp/setup').set(bearer(again.tokens.accessToken)).expect(200);
    });

    it('an impersonating admin may read the status, but neither set up nor confirm', async () => {
      const s = await signedInUser(t, 'mfaimp');
      const impersonation = (
        await t.http().post('/auth/impersonate').set(bearer(admin.tokens.accessToken)).send({ userId: s.id }).expect(200)
      ).body as LoginBody;
      const as = bearer(impersonation.tokens.accessToken);
      await t.http().get('/auth/mfa').set(as).expect(200);
      expect((await t.http().post('/auth/mfa/totp/setup').set(as).expect(403)).body).toEqual({
        statusCode: 403,
        code: 'FORBIDDEN',
        message: 'an impersonated session cannot do this',
      });
      await setup(s);
      expect((await confirm({ auth: as }, '123456').expect(403)).body.message).toBe(
        'an impersonated session cannot turn on a second factor',
      );
    });
  });

  describe('confirmation', () => {
    it.each([
      ['now − 30 s', -30_000],
      ['now', 0],
      ['now + 30 s', 30_000],
    ])('accepts the code of %s', async (_name, offset) => {
      const s = await signedInUser(t, 'mfawindow');
      const { secret } = await setup(s);
      await roomInStep();
      await confirm(s, codeAt(secret, offset)).expect(200);
    });

    it('refuses the codes of now ± 60 s (INVALID_MFA_CODE), then takes a good one', async () => {
      const s = await signedInUser(t, 'mfafar');
      const { secret } = await setup(s);
      await roomInStep();
      const inside = [-30_000, 0, 30_000].map((o) => codeAt(secret, o));
      for (const offset of [-60_000, 60_000]) {
        const code = codeAt(secret, offset);
        // A code equal to one inside the window (one chance in about 300,000) proves nothing.
        if (inside.includes(code)) continue;
        expect((await confirm(s, code).expect(401)).body.code).toBe('INVALID_MFA_CODE');
      }
      expect(await status(s.accessToken)).toMatchObject({ totp: { enabled: false } });
      await confirm(s, codeAt(secret)).expect(200);
    });

    it('turns the factor on: 10 distinct codes once, other sessions revoked at once, this session raised, mailed, audited', async () => {
      const s = await signedInUser(t, 'mfaon');
      const other = await signIn(t, s);
      const viaTcp = await signIn(t.rpc.tcp, s);
      const { secret } = await setup(s);
      await roomInStep();
      const before = Math.floor(Date.now() / 1000);
      const res = await confirm(s, codeAt(secret)).expect(200);
      expect(Object.keys(res.body as object)).toEqual(['recoveryCodes']);
      const codes = (res.body as { recoveryCodes: string[] }).recoveryCodes;
      expect(codes).toHaveLength(10);
      expect(new Set(codes).size).toBe(10);
      for (const code of codes) expect(code).toMatch(RECOVERY_CODE);

      // The other sessions end at once; this one lives on.
      await t.http().get('/auth/me').set(other.auth).expect(401);
      expect(await t.rpc.tcp.fail('auth.verify', { accessToken: viaTcp.accessToken })).toMatchObject({ code: 'UNAUTHORIZED' });
      expect((await t.http().post('/auth/refresh').send({ refreshToken: other.refreshToken }).expect(401)).body.code).toBe(
        'INVALID_REFRESH_TOKEN',
      );
      const revoked = await t.db.query(`SELECT revoke_reason FROM sessions WHERE id = ANY($1::uuid[])`, [
        [other.sessionId, viaTcp.sessionId],
      ]);
      expect(revoked).toEqual([{ revoke_reason: 'mfa_enabled' }, { revoke_reason: 'mfa_enabled' }]);
      // Pushed to sibling apps as their session.revoked events, within a second.
      for (let waited = 0; waited < 1000 && published.filter((e) => e.userId === s.id).length < 3; waited += 25) await sleep(25);
      expect(published.filter((e) => e.userId === s.id && e.type === 'session.revoked')).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ sessionId: other.sessionId, reason: 'mfa_enabled' }),
          expect.objectContaining({ sessionId: viaTcp.sessionId, reason: 'mfa_enabled' }),
        ]),
      );
      expect(published).toContainEqual(expect.objectContaining({ type: 'user.mfa_enabled', userId: s.id, sessionId: s.sessionId }));

      // The current token keeps its claims; the next refresh carries the session's new ones.
      expect(claimsOf(s.accessToken)).toMatchObject({ aal: 1, amr: ['pwd'] });
      const current = await status(s.accessToken);
      expect(current).toEqual({ totp: { enabled: true, confirmedAt: expect.any(String) }, recoveryCodesLeft: 10, passkeys: [] });
      const raised = await refresh(s.refreshToken);
      expect(raised.sessionId).toBe(s.sessionId);
      const claims = claimsOf(raised.tokens.accessToken);
      expect(claims).toMatchObject({ aal: 2, amr: ['mfa', 'otp', 'pwd'] });
      expect(claims.auth_time).toBeGreaterThanOrEqual(before);

      // Shown once: a second confirmation or setup is refused while the factor is on.
      const again = await confirm(s, codeAt(secret, 30_000)).expect(403);
      expect(again.body).toEqual({ statusCode: 403, code: 'FORBIDDEN', message: 'a second factor is on already; turn it off first' });
      expect((await t.http().post('/auth/mfa/totp/setup').set(bearer(raised.tokens.accessToken)).expect(403)).body.code).toBe('FORBIDDEN');

      const [mail] = await sink.waitForSubject(s.email, 'Second factor turned on');
      expect(mail.text).toContain('other sessions were signed out');
      expect(await audit(s.id, 'user.mfa_enabled')).toEqual([{ session_id: s.sessionId, actor_id: null, details: { method: 'totp' } }]);
      const rows = await t.db.query(`SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL`, [s.id]);
      expect(rows).toEqual([{ n: 10 }]);
    });

    it('wrong codes count toward the second-factor lockout: the 11th attempt is 429 with Retry-After, even with the right code', async () => {
      const s = await signedInUser(t, 'mfalock');
      const { secret } = await setup(s);
      for (let i = 0; i < 10; i += 1) expect((await confirm(s, '000000').expect(401)).body.code).toBe('INVALID_MFA_CODE');
      await roomInStep();
      const locked = await confirm(s, codeAt(secret)).expect(429);
      expect(locked.body.code).toBe('TOO_MANY_REQUESTS');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
      expect(await t.rpc.tcp.fail('auth.mfa.totp.confirm', { accessToken: s.accessToken, code: codeAt(secret) })).toMatchObject({
        statusCode: 429,
        code: 'TOO_MANY_REQUESTS',
        retryAfter: expect.any(Number),
      });
      expect(await status(s.accessToken)).toMatchObject({ totp: { enabled: false } });
    });

    it('of concurrent confirmations with one code, exactly one turns the factor on', async () => {
      const s = await signedInUser(t, 'mfarace');
      const { secret } = await setup(s);
      await roomInStep();
      const code = codeAt(secret);
      const answers = await Promise.all(Array.from({ length: 5 }, () => confirm(s, code)));
      // The others lost the step's claim (401), or came after the winner had turned the factor on (403).
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
      for (const lost of answers.filter((a) => a.status !== 200)) expect(['INVALID_MFA_CODE', 'FORBIDDEN']).toContain(lost.body.code);
      const rows = await t.db.query(`SELECT count(*)::int AS n FROM mfa_recovery_codes WHERE user_id = $1`, [s.id]);
      expect(rows).toEqual([{ n: 10 }]);
      expect(await audit(s.id, 'user.mfa_enabled')).toHaveLength(1);
    });

    it('a right code ends the run of failures', async () => {
      const s = await signedInUser(t, 'mfarun');
      const { secret } = await setup(s);
      for (let i = 0; i < 9; i += 1) await confirm(s, '000000').expect(401);
      await roomInStep();
      await confirm(s, codeAt(secret)).expect(200);
      expect(await t.db.query(`SELECT 1 FROM mfa_lockouts WHERE user_id = $1`, [s.id])).toEqual([]);
    });

    it('over TCP: answers the codes, refuses a wrong one, and validates the code', async () => {
      const s = await signedInUser(t, 'mfatcp');
      const { secret } = await t.rpc.tcp.send<Setup>('auth.mfa.totp.setup', { accessToken: s.accessToken });
      expect(await t.rpc.tcp.fail('auth.mfa.totp.confirm', { accessToken: s.accessToken, code: '12345' })).toEqual({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: 'validation failed',
        errors: [{ field: 'code', messages: ['code must be 6 digits'] }],
      });
      await roomInStep();
      const wrong = codeAt(secret, 120_000);
      expect(await t.rpc.tcp.fail('auth.mfa.totp.confirm', { accessToken: s.accessToken, code: wrong })).toEqual({
        statusCode: 401,
        code: 'INVALID_MFA_CODE',
        message: 'invalid code',
      });
      const { recoveryCodes } = await t.rpc.tcp.send<{ recoveryCodes: string[] }>('auth.mfa.totp.confirm', {
        accessToken: s.accessToken,
        code: codeAt(secret),
      });
      expect(new Set(recoveryCodes).size).toBe(10);
      expect(await t.rpc.tcp.send('auth.mfa.status', { accessToken: s.accessToken })).toMatchObject({
        totp: { enabled: true },
        recoveryCodesLeft: 10,
      });
    });

    it.each([
      ['no code', {}, 'code', 'code must be a string'],
      ['a number', { code: 123456 }, 'code', 'code must be a string'],
      ['five digits', { code: '12345' }, 'code', 'code must be 6 digits'],
      ['seven digits', { code: '1234567' }, 'code', 'code must be 6 digits'],
      ['letters', { code: 'abcdef' }, 'code', 'code must be 6 digits'],
      ['a space inside', { code: '123 456' }, 'code', 'code must be 6 digits'],
      ['an unknown field', { code: '123456', extra: true }, 'extra', 'property extra should not exist'],
    ])('REST refuses %s with the validation error shape', async (_name, body, field, message) => {
      const s = await signedInUser(t, 'mfavalid');
      const res = await t.http().post('/auth/mfa/totp/confirm').set(s.auth).send(body).expect(400);
      expect(res.body).toEqual({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        message: 'validation failed',
        errors: [{ field, messages: [message] }],
      });
    });
  });

  it('grey-box: no TOTP secret (base32 or raw) nor recovery code in any text or bytea column, pending or confirmed', async () => {
    const s = await signedInUser(t, 'mfaleak');
    const { secret } = await setup(s);
    const raw = Buffer.from(Secret.fromBase32(secret).bytes);
    const columns: Array<{ table_name: string; column_name: string; data_type: string }> = await t.db.query(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY')`,
    );
    expect(columns.length).toBeGreaterThan(20);
    const holding = async (texts: string[], bytes: Buffer[]): Promise<string[]> => {
      const found: string[] = [];
      for (const { table_name: table, column_name: column, data_type: type } of columns) {
        const where =
          type === 'bytea'
            ? `position($1::bytea IN "${column}") > 0 OR position(convert_to($2, 'UTF8') IN "${column}") > 0`
            : `"${column}"::text ILIKE '%' || $2 || '%' OR "${column}"::text ILIKE '%' || encode($1::bytea, 'hex') || '%'`;
        for (const needle of [
          ...texts.map((text) => ({ text, bytes: Buffer.from(text) })),
          ...bytes.map((b) => ({ text: b.toString('hex'), bytes: b })),
        ]) {
          const [row] = await t.db.query(`SELECT count(*)::int AS n FROM "${table}" WHERE ${where}`, [needle.bytes, needle.text]);
          if (row.n > 0) found.push(`${table}.${column}`);
        }
      }
      return found;
    };
    expect(await holding([secret], [raw])).toEqual([]);
    await roomInStep();
    const { recoveryCodes } = (await confirm(s, codeAt(secret)).expect(200)).body as { recoveryCodes: string[] };
    const normalized = recoveryCodes.map((c) => c.replace(/-/g, ''));
    expect(await holding([secret, ...recoveryCodes, ...normalized], [raw])).toEqual([]);
  });

  describe('turning it off', () => {
    it('needs aal 2 (MFA_REQUIRED for an aal-1 token) and a recent sign-in; then removes the factor and codes, mails and audits', async () => {
      const { s, raised } = await userWithTotp('mfaoff');
      // The token of before the confirmation still says aal 1.
      const aal1 = await t.http().delete('/auth/mfa/totp').set(s.auth).expect(403);
      expect(aal1.body).toEqual({ statusCode: 403, code: 'MFA_REQUIRED', message: expect.any(String) });
      expect(await t.rpc.tcp.fail('auth.mfa.totp.disable', { accessToken: s.accessToken })).toMatchObject({ code: 'MFA_REQUIRED' });

      await ageAuthTime(s.sessionId);
      const aged = await refresh(raised.tokens.refreshToken);
      expect(claimsOf(aged.tokens.accessToken)).toMatchObject({ aal: 2 });
      expect((await t.http().delete('/auth/mfa/totp').set(bearer(aged.tokens.accessToken)).expect(401)).body.code).toBe('REAUTH_REQUIRED');

      const fresh = (
        await t.http().post('/auth/reauthenticate').set(bearer(aged.tokens.accessToken)).send({ password: s.password }).expect(200)
      ).body as LoginBody;
      await t.http().delete('/auth/mfa/totp').set(bearer(fresh.tokens.accessToken)).expect(204);
      expect(await status(fresh.tokens.accessToken)).toEqual({
        totp: { enabled: false, confirmedAt: null },
        recoveryCodesLeft: 0,
        passkeys: [],
      });
      expect(await t.db.query(`SELECT 1 FROM mfa_totp WHERE user_id = $1`, [s.id])).toEqual([]);
      expect(await t.db.query(`SELECT 1 FROM mfa_recovery_codes WHERE user_id = $1`, [s.id])).toEqual([]);
      const [mail] = await sink.waitForSubject(s.email, 'Second factor turned off');
      expect(mail.text).toContain('was just turned off');
      expect(mail.text).not.toContain('administrator');

      // Answered alike when nothing is on, and nothing more is mailed or audited.
      await t.http().delete('/auth/mfa/totp').set(bearer(fresh.tokens.accessToken)).expect(204);
      expect(await audit(s.id, 'user.mfa_disabled')).toEqual([
        { session_id: s.sessionId, actor_id: null, details: { method: 'totp', reset: false } },
      ]);
      // The session keeps the assurance it proved; a new setup may start.
      await t.http().post('/auth/mfa/totp/setup').set(bearer(fresh.tokens.accessToken)).expect(200);
    });

    it('over TCP: { disabled: true }', async () => {
      const { s, raised } = await userWithTotp('mfaofftcp');
      expect(await t.rpc.tcp.send('auth.mfa.totp.disable', { accessToken: raised.tokens.accessToken })).toEqual({ disabled: true });
      expect(await t.rpc.tcp.send('auth.mfa.status', { accessToken: raised.tokens.accessToken })).toMatchObject({
        totp: { enabled: false },
      });
      await sink.waitForSubject(s.email, 'Second factor turned off');
    });
  });

  describe('recovery codes', () => {
    it('regenerating needs aal 2 and voids the old set; the count shows in the status; audited', async () => {
      const { s, recoveryCodes: old, raised } = await userWithTotp('mfacodes');
      expect((await t.http().post('/auth/mfa/recovery-codes').set(s.auth).expect(403)).body.code).toBe('MFA_REQUIRED');
      const oldRows: Array<{ id: string }> = await t.db.query(`SELECT id FROM mfa_recovery_codes WHERE user_id = $1`, [s.id]);
      expect(oldRows).toHaveLength(10);

      const res = await t.http().post('/auth/mfa/recovery-codes').set(bearer(raised.tokens.accessToken)).expect(200);
      const fresh = (res.body as { recoveryCodes: string[] }).recoveryCodes;
      expect(fresh).toHaveLength(10);
      expect(new Set(fresh).size).toBe(10);
      expect(fresh.filter((c) => old.includes(c))).toEqual([]);

      // Grey-box: the old rows are gone, ten new unused ones stand.
      const rows: Array<{ id: string; used_at: Date | null }> = await t.db.query(
        `SELECT id, used_at FROM mfa_recovery_codes WHERE user_id = $1`,
        [s.id],
      );
      expect(rows).toHaveLength(10);
      expect(rows.filter((r) => oldRows.some((o) => o.id === r.id))).toEqual([]);
      const codes = t.app.get(RecoveryCodesService);
      expect(await codes.use(s.id, old[0])).toBeNull();
      expect(await codes.use(s.id, fresh[0])).toEqual({ remaining: 9 });
      expect(await status(raised.tokens.accessToken)).toMatchObject({ recoveryCodesLeft: 9 });

      const viaTcp = await t.rpc.tcp.send<{ recoveryCodes: string[] }>('auth.mfa.recoveryCodes.regenerate', {
        accessToken: raised.tokens.accessToken,
      });
      expect(viaTcp.recoveryCodes.filter((c) => fresh.includes(c))).toEqual([]);
      expect(await audit(s.id, 'user.recovery_codes_regenerated')).toEqual([
        { session_id: s.sessionId, actor_id: null, details: null },
        { session_id: s.sessionId, actor_id: null, details: null },
      ]);
    });

    it('needs a recent sign-in, and a factor that is on', async () => {
      const { s, raised } = await userWithTotp('mfacodesold');
      await ageAuthTime(s.sessionId);
      const aged = await refresh(raised.tokens.refreshToken);
      expect((await t.http().post('/auth/mfa/recovery-codes').set(bearer(aged.tokens.accessToken)).expect(401)).body.code).toBe(
        'REAUTH_REQUIRED',
      );
      const fresh = (
        await t.http().post('/auth/reauthenticate').set(bearer(aged.tokens.accessToken)).send({ password: s.password }).expect(200)
      ).body as LoginBody;
      await t.http().delete('/auth/mfa/totp').set(bearer(fresh.tokens.accessToken)).expect(204);
      expect((await t.http().post('/auth/mfa/recovery-codes').set(bearer(fresh.tokens.accessToken)).expect(403)).body).toEqual({
        statusCode: 403,
        code: 'FORBIDDEN',
        message: 'no second factor is on',
      });
    });
  });

  describe('admin reset', () => {
    it('DELETE /users/:id/mfa: admin only; removes the factor, keeps the sessions, mails "by an administrator", audits the admin', async () => {
      const { s } = await userWithTotp('mfareset');
      const bystander = await signedInUser(t, 'mfabystander');
      await t.http().delete(`/users/${s.id}/mfa`).set(bystander.auth).expect(403);
      await t.http().delete(`/users/${s.id}/mfa`).expect(401);

      await t.http().delete(`/users/${s.id}/mfa`).set(bearer(admin.tokens.accessToken)).expect(204);
      expect(await status(s.accessToken)).toMatchObject({ totp: { enabled: false }, recoveryCodesLeft: 0 });
      const [mail] = await sink.waitForSubject(s.email, 'Second factor turned off');
      expect(mail.text).toContain('An administrator turned off');
      expect(await audit(s.id, 'user.mfa_disabled')).toEqual([
        { session_id: null, actor_id: admin.user.id, details: { method: 'totp', reset: true } },
      ]);

      await t.http().delete(`/users/00000000-0000-4000-8000-000000000000/mfa`).set(bearer(admin.tokens.accessToken)).expect(404);
      await t.http().delete(`/users/not-a-uuid/mfa`).set(bearer(admin.tokens.accessToken)).expect(404);
      expect((await t.http().delete(`/users/${admin.user.id}/mfa`).set(bearer(admin.tokens.accessToken)).expect(403)).body.message).toBe(
        'turn your own second factor off with DELETE /auth/mfa/totp',
      );
    });

    it('users.mfa.reset for trusted callers: { reset: true }, mailed, audited without an actor', async () => {
      const { s } = await userWithTotp('mfaresettcp');
      expect(await t.rpc.tcp.send('users.mfa.reset', { id: s.id })).toEqual({ reset: true });
      expect(await status(s.accessToken)).toMatchObject({ totp: { enabled: false } });
      await sink.waitForSubject(s.email, 'Second factor turned off');
      expect(await audit(s.id, 'user.mfa_disabled')).toEqual([
        { session_id: null, actor_id: null, details: { method: 'totp', reset: true } },
      ]);
      expect(await t.rpc.tcp.fail('users.mfa.reset', { id: '00000000-0000-4000-8000-000000000000' })).toMatchObject({
        statusCode: 404,
        code: 'NOT_FOUND',
      });
    });
  });
});
