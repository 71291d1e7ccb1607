import http from 'node:http';
import { connect } from 'node:net';

import { bearer, mailedToken, registerUser, signedInUser } from '../support/accounts';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const BYTE_CAP = 'password must be at most 1024 bytes';
const TOO_LARGE_MESSAGE = { statusCode: 413, code: 'VALIDATION_FAILED', message: 'message too large' };
// One byte over the cap; just under the 64 KB body and message limits; made of a character NFKC
// expands eighteenfold (U+FDFA), so that anything normalising before the cap would be seen working.
const OVERSIZED_PASSWORDS = [
  ['1025 bytes', 'p'.repeat(1025)],
  ['60 KB', 'p'.repeat(60 * 1024)],
  ['60 KB of U+FDFA', '\uFDFA'.repeat(20 * 1024)],
] as const;
const MIB = 1024 * 1024;

interface Outcome {
  status: number | string;
  body?: { code?: string; errors?: { field: string; messages: string[] }[] };
}

/** One POST on a connection of its own; a connection the service closes before its answer is read is the error's code. */
function post(baseUrl: string, path: string, payload: Buffer, chunked = false): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(payload.length);
    const req = http.request(new URL(path, baseUrl), { method: 'POST', agent: false, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error' }));
    if (chunked) for (let offset = 0; offset < payload.length; offset += 64 * 1024) req.write(payload.subarray(offset, offset + 64 * 1024));
    req.end(chunked ? undefined : payload);
  });
}

/** Like post, but sent again (a few times at most) when the close overtook the answer (chunked bodies): the answer is the subject. */
async function answered(baseUrl: string, path: string, payload: Buffer, chunked = false): Promise<Outcome> {
  let outcome = await post(baseUrl, path, payload, chunked);
  for (let attempt = 1; attempt < 5 && typeof outcome.status === 'string'; attempt++) outcome = await post(baseUrl, path, payload, chunked);
  return outcome;
}

describe('oversized passwords and identifiers: a clear error, nothing hashed or written, health answering', () => {
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

  const passwordHash = async (id: string): Promise<string> =>
    (await t.db.query(`SELECT password_hash FROM users WHERE id = $1`, [id]))[0].password_hash as string;
  const sessions = async (id: string): Promise<number> =>
    (await t.db.query(`SELECT count(*)::int AS n FROM sessions WHERE user_id = $1`, [id]))[0].n as number;
  const failures = async (email: string): Promise<number> =>
    (await t.db.query(`SELECT coalesce(max(failures), 0)::int AS n FROM login_attempts WHERE key LIKE '%' || $1`, [email]))[0].n as number;
  const usersWithEmail = async (email: string): Promise<number> =>
    (await t.db.query(`SELECT count(*)::int AS n FROM users WHERE email = $1`, [email]))[0].n as number;

  it.each(OVERSIZED_PASSWORDS)(
    'refuses a %s password at login, for a known and an unknown account alike, counting no failure',
    async (_, password) => {
      const u = await registerUser(t, 'bigpw');
      const before = { hash: await passwordHash(u.id), sessions: await sessions(u.id) };
      const known = await t.http().post('/auth/login').send({ email: u.email, password }).expect(400);
      const unknown = await t
        .http()
        .post('/auth/login')
        .send({ email: uniqueUser('nobody').email, password })
        .expect(400);
      const byUsername = await t.http().post('/auth/login').send({ username: u.username, password }).expect(400);
      const expected = { statusCode: 400, code: 'VALIDATION_FAILED', errors: [{ field: 'password', messages: [BYTE_CAP] }] };
      expect(known.body).toMatchObject(expected);
      expect(unknown.body).toEqual(known.body);
      expect(byUsername.body).toEqual(known.body);
      const rpc = await t.rpc.tcp.fail('auth.login', { email: u.email, password });
      expect(rpc).toMatchObject(expected);
      expect(await t.rpc.tcp.fail('auth.login', { email: uniqueUser('nobody').email, password })).toEqual(rpc);
      expect({ hash: await passwordHash(u.id), sessions: await sessions(u.id) }).toEqual(before);
      expect(await failures(u.email)).toBe(0);
    },
  );

  it.each(OVERSIZED_PASSWORDS)('refuses a %s password at registration, over HTTP and TCP, and writes no account', async (_, password) => {
    const u = uniqueUser('bigreg');
    const res = await t.http().post('/auth/register').send({ email: u.email, password }).expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', errors: [{ field: 'password', messages: [BYTE_CAP] }] });
    expect(await t.rpc.tcp.fail('auth.register', { email: u.email, password })).toMatchObject({
      statusCode: 400,
      errors: [{ field: 'password', messages: [BYTE_CAP] }],
    });
    expect(await usersWithEmail(u.email)).toBe(0);
  });

  it.each(OVERSIZED_PASSWORDS)('refuses a %s password in a change, either field, and changes nothing', async (_, password) => {
    const u = await signedInUser(t, 'bigchange');
    const before = { hash: await passwordHash(u.id), sessions: await sessions(u.id) };
    for (const [body, field] of [
      [{ currentPassword: password, newPassword: 'a brand new passphrase' }, 'currentPassword'],
      [{ currentPassword: u.password, newPassword: password }, 'newPassword'],
    ] as const) {
      const res = await t.http().post('/auth/password/change').set(bearer(u.accessToken)).send(body).expect(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field, messages: [BYTE_CAP] }] });
      expect(await t.rpc.tcp.fail('auth.password.change', { ...body, accessToken: u.accessToken })).toMatchObject({
        statusCode: 400,
        errors: [{ field, messages: [BYTE_CAP] }],
      });
    }
    expect({ hash: await passwordHash(u.id), sessions: await sessions(u.id) }).toEqual(before);
    expect(await failures(u.email)).toBe(0);
  });

  it('refuses oversized passwords in a reset, over HTTP and TCP, without using up the token', async () => {
    const u = await registerUser(t, 'bigreset');
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const token = await mailedToken(sink, u.email, '/reset-password');
    const hash = await passwordHash(u.id);
    for (const [, password] of OVERSIZED_PASSWORDS) {
      const res = await t.http().post('/auth/password/reset').send({ token, password }).expect(400);
      expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'password', messages: [BYTE_CAP] }] });
      expect(await t.rpc.tcp.fail('auth.password.reset', { token, password })).toMatchObject({
        statusCode: 400,
        errors: [{ field: 'password', messages: [BYTE_CAP] }],
      });
    }
    expect(await passwordHash(u.id)).toBe(hash);
    // The token was never consumed: it still resets, once.
    await t.http().post('/auth/password/reset').send({ token, password: 'a brand new passphrase' }).expect(204);
    expect(await passwordHash(u.id)).not.toBe(hash);
  });

  it('refuses body-sized emails and usernames that NFKC would expand, with the length message', async () => {
    const email = `${'\uFDFA'.repeat(20 * 1024)}@example.com`;
    for (const path of ['/auth/register', '/auth/login']) {
      const res = await t.http().post(path).send({ email, password: 'correct horse battery staple' }).expect(400);
      expect(res.body.errors).toEqual([{ field: 'email', messages: ['email must be shorter than or equal to 254 characters'] }]);
    }
    const res = await t
      .http()
      .post('/auth/login')
      .send({ username: '\uFDFA'.repeat(20 * 1024), password: 'correct horse battery staple' })
      .expect(400);
    expect(res.body.errors).toEqual([{ field: 'username', messages: ['username must be 3-32 characters of a-z, 0-9, ".", "_" or "-"'] }]);
    expect(await t.rpc.tcp.fail('auth.login', { email, password: 'correct horse battery staple' })).toMatchObject({
      statusCode: 400,
      errors: [{ field: 'email', messages: ['email must be shorter than or equal to 254 characters'] }],
    });
  });

  it('refuses a 1 MiB password 413 over HTTP (with a length or chunked) and TCP, and writes no account', async () => {
    const u = uniqueUser('mib');
    const payload = Buffer.from(JSON.stringify({ email: u.email, password: 'p'.repeat(MIB) }));
    const tooLarge = { status: 413, body: { statusCode: 413, code: 'VALIDATION_FAILED', message: 'request body too large' } };
    // Read through (declared 1 MiB): answered every time.
    for (let i = 0; i < 5; i++) expect(await post(t.baseUrl, '/auth/register', payload)).toEqual(tooLarge);
    expect(await answered(t.baseUrl, '/auth/register', payload, true)).toEqual(tooLarge);
    expect(await t.rpc.tcp.fail('auth.register', { email: u.email, password: 'p'.repeat(MIB) })).toEqual(TOO_LARGE_MESSAGE);
    expect(await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'p'.repeat(MIB) })).toEqual(TOO_LARGE_MESSAGE);
    expect(await usersWithEmail(u.email)).toBe(0);
  });

  it('reads a body declared over the limit through before its 413, so the sender gets the answer, not a reset', async () => {
    const { port } = new URL(t.baseUrl);
    const body = Buffer.from(JSON.stringify({ email: 'a@example.com', password: 'p'.repeat(MIB) }));
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    const received: Buffer[] = [];
    const events: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => events.push('end'));
    socket.on('error', (error: NodeJS.ErrnoException) => events.push(error.code ?? 'error'));
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const head = `POST /auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    socket.write(head);
    socket.write(body.subarray(0, 128 * 1024));
    // Half the body sent: nothing is answered or closed yet (Fastify alone answers and closes here).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect({ received: Buffer.concat(received).length, events }).toEqual({ received: 0, events: [] });
    await new Promise<void>((resolve) => socket.write(body.subarray(128 * 1024), () => resolve()));
    for (let waited = 0; waited < 10_000 && !Buffer.concat(received).includes('"code"'); waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    const answer = Buffer.concat(received).toString('utf8');
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('{"statusCode":413,"code":"VALIDATION_FAILED","message":"request body too large"}');
    expect(events).toEqual([]);
    socket.destroy();
  });

  it('answers /health/live all through a flood of oversized logins, and answers the flood', async () => {
    const u = await registerUser(t, 'flood');
    const nearLimit = Buffer.from(JSON.stringify({ email: `${'\uFDFA'.repeat(20 * 1024)}@example.com`, password: 'p'.repeat(1000) }));
    const bigPassword = Buffer.from(JSON.stringify({ email: u.email, password: '\uFDFA'.repeat(20 * 1024) }));
    const mib = Buffer.from(JSON.stringify({ email: u.email, password: 'p'.repeat(MIB) }));
    const flood = (payload: Buffer, n: number, chunked = false): Promise<Outcome[]> =>
      Promise.all(Array.from({ length: n }, () => post(t.baseUrl, '/auth/login', payload, chunked)));

    let flooding = true;
    const probes: number[] = [];
    const probing = (async () => {
      while (flooding) probes.push((await t.http().get('/health/live')).status);
    })();
    const [near, big, huge, hugeChunked] = await Promise.all([
      flood(nearLimit, 20),
      flood(bigPassword, 20),
      flood(mib, 10),
      flood(mib, 10, true),
      t.rpc.tcp.fail('auth.login', { email: u.email, password: 'p'.repeat(MIB) }),
    ]);
    flooding = false;
    await probing;

    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((status) => status === 200)).toBe(true);
    expect(near.map((o) => o.body?.errors?.[0]?.field)).toEqual(Array(20).fill('email'));
    expect(big.map((o) => o.body?.errors)).toEqual(Array(20).fill([{ field: 'password', messages: [BYTE_CAP] }]));
    // A declared length up to 4 MiB is read through, so every sender reads its 413. A chunked body is
    // answered and closed as soon as it passes the limit: a client still sending may see the close
    // (EPIPE, ECONNRESET) before the answer. Whatever is answered is the 413.
    expect(huge.map((o) => o.status)).toEqual(Array(10).fill(413));
    for (const o of hugeChunked) expect([413, 'EPIPE', 'ECONNRESET']).toContain(o.status);
    expect(hugeChunked.some((o) => o.status === 413)).toBe(true);
    expect(await failures(u.email)).toBe(0);
    expect(await sessions(u.id)).toBe(0);
  });
});
