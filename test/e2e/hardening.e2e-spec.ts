import { registerUser } from '../support/accounts';
import { SmtpSink, tokenOf } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const LOCKED = { statusCode: 429, code: 'TOO_MANY_REQUESTS', message: expect.any(String) };

describe('account lockout', () => {
  const sink = new SmtpSink();
  let t: TestApp;
  const env = { LOCKOUT_THRESHOLD: '3', LOCKOUT_DURATION: '2' };

  beforeAll(async () => {
    await sink.start();
    t = await startTestApp({ ...env, SMTP_URL: sink.url });
  });
  afterAll(async () => {
    await t.close();
    await sink.stop();
  });

  const login = (body: Record<string, unknown>) => t.http().post('/auth/login').send(body);

  it('answers failures 1..N with INVALID_CREDENTIALS, then TOO_MANY_REQUESTS with Retry-After, the correct password included, until the lock ends', async () => {
    const u = await registerUser(t, 'lock');
    for (let i = 0; i < 3; i += 1)
      expect((await login({ email: u.email, password: 'wrong password!' }).expect(401)).body.code).toBe('INVALID_CREDENTIALS');
    const locked = await login({ email: u.email, password: u.password }).expect(429);
    expect(locked.body).toEqual(LOCKED);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(2);
    // Over RPC too (with retryAfter).
    expect(await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).toEqual({
      ...LOCKED,
      retryAfter: expect.any(Number),
    });
    await sleep(2100);
    await login({ email: u.email, password: u.password }).expect(200);
  });

  it('locks the identifier tried, so the answers never tell which email and username go together', async () => {
    const u = await registerUser(t, 'lock');
    for (let i = 0; i < 3; i += 1) await login({ username: u.username, password: 'wrong password!' }).expect(401);
    expect((await login({ username: u.username, password: u.password }).expect(429)).body).toEqual(LOCKED);
    // The email answers as any address would after one failure.
    expect((await login({ email: u.email, password: 'wrong password!' }).expect(401)).body.code).toBe('INVALID_CREDENTIALS');
    // Its owner still gets in by email, and that ends the username's lock too.
    await login({ email: u.email, password: u.password }).expect(200);
    await login({ username: u.username, password: u.password }).expect(200);
  });

  it('counts no refused attempt toward the account: hammering a locked username, even concurrently, never locks the email', async () => {
    const u = await registerUser(t, 'lock');
    const burst = await Promise.all(Array.from({ length: 10 }, () => login({ username: u.username, password: 'wrong password!' })));
    expect(burst.filter((r) => r.status === 401)).toHaveLength(3);
    for (let i = 0; i < 10; i += 1) await login({ username: u.username, password: 'wrong password!' }).expect(429);
    expect((await login({ email: u.email, password: 'wrong password!' }).expect(401)).body.code).toBe('INVALID_CREDENTIALS');
    await login({ email: u.email, password: u.password }).expect(200);
  });

  it('locks the whole account at twice the threshold of failures across its identifiers', async () => {
    const u = await registerUser(t, 'lock');
    for (let i = 0; i < 3; i += 1) await login({ username: u.username, password: 'wrong password!' }).expect(401);
    for (let i = 0; i < 2; i += 1) await login({ email: u.email, password: 'wrong password!' }).expect(401);
    // The sixth failure reaches the account's ceiling (it is also the email's third).
    await login({ email: u.email, password: 'wrong password!' }).expect(401);
    expect((await login({ email: u.email, password: u.password }).expect(429)).body).toEqual(LOCKED);
  });

  it('lets no more than the threshold of concurrent attempts reach the password check', async () => {
    const u = await registerUser(t, 'lock');
    const answers = await Promise.all(Array.from({ length: 10 }, () => login({ email: u.email, password: 'wrong password!' })));
    expect(answers.filter((r) => r.status === 401)).toHaveLength(3);
    expect(answers.filter((r) => r.status === 429)).toHaveLength(7);
    await login({ email: u.email, password: u.password }).expect(429);
  });

  it("locks password change after the threshold of wrong current passwords, and counts them toward the account's ceiling", async () => {
    const u = await registerUser(t, 'lock');
    const session = (await login({ email: u.email, password: u.password }).expect(200)).body;
    const auth = { authorization: `Bearer ${session.tokens.accessToken}` };
    for (let i = 0; i < 3; i += 1)
      await t
        .http()
        .post('/auth/password/change')
        .set(auth)
        .send({ currentPassword: 'wrong password!', newPassword: 'a brand new password' })
        .expect(401);
    await t
      .http()
      .post('/auth/password/change')
      .set(auth)
      .send({ currentPassword: u.password, newPassword: 'a brand new password' })
      .expect(429);
    // Three failures on the account so far (the refused fourth is not counted): three more failed
    // logins reach its ceiling of six, though neither identifier reaches its own threshold.
    for (let i = 0; i < 2; i += 1) await login({ email: u.email, password: 'wrong password!' }).expect(401);
    await login({ username: u.username, password: 'wrong password!' }).expect(401);
    await login({ email: u.email, password: u.password }).expect(429);
  });

  it('treats an unknown address exactly like a known one', async () => {
    const unknown = `nobody-${Date.now()}@example.com`;
    for (let i = 0; i < 3; i += 1)
      expect((await login({ email: unknown, password: 'wrong password!' }).expect(401)).body.code).toBe('INVALID_CREDENTIALS');
    expect((await login({ email: unknown, password: 'wrong password!' }).expect(429)).body).toEqual(LOCKED);
  });

  it('resets the count on success, ignores requests refused by validation, and counts RPC failures too', async () => {
    const u = await registerUser(t, 'lock');
    await login({ email: u.email, password: 'wrong password!' }).expect(401);
    await login({ email: u.email, password: 'wrong password!' }).expect(401);
    await login({ email: u.email, password: u.password }).expect(200);
    for (let i = 0; i < 5; i += 1) await login({ email: u.email, password: 'x'.repeat(2000) }).expect(400);
    await login({ email: u.email, password: 'wrong password!' }).expect(401);
    await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'wrong password!' });
    await login({ email: u.email, password: u.password }).expect(200);
    for (let i = 0; i < 3; i += 1) await t.rpc.tcp.fail('auth.login', { email: u.email, password: 'wrong password!' });
    await login({ email: u.email, password: u.password }).expect(429);
  });

  it('lets a password reset through while locked, and the reset ends the lock', async () => {
    const u = await registerUser(t, 'lock');
    for (let i = 0; i < 3; i += 1) await login({ username: u.username, password: 'wrong password!' }).expect(401);
    await login({ username: u.username, password: u.password }).expect(429);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    const mails = await sink.waitFor(2, u.email);
    const reset = mails.find((m) => m.subject === 'Reset your password')!;
    await t
      .http()
      .post('/auth/password/reset')
      .send({ token: tokenOf(reset.links[0]), password: 'a brand new password' })
      .expect(204);
    await login({ username: u.username, password: 'a brand new password' }).expect(200);
  });

  it('survives a restart (the lock lives in the database)', async () => {
    const u = await registerUser(t, 'lock');
    for (let i = 0; i < 3; i += 1) await login({ email: u.email, password: 'wrong password!' }).expect(401);
    await t.close();
    t = await startTestApp({ ...env, SMTP_URL: sink.url });
    expect((await login({ email: u.email, password: u.password }).expect(429)).body).toEqual(LOCKED);
  });
});

describe('rate limits per client address', () => {
  let t: TestApp;
  afterEach(() => t.close());

  it('allows RATE_LIMIT_PER_MINUTE requests across the auth routes, then 429 with Retry-After; a forged X-Forwarded-For changes nothing', async () => {
    t = await startTestApp({ RATE_LIMIT_PER_MINUTE: '5', REDIS_URL: '' });
    const u = uniqueUser('limit');
    const forged = { 'x-forwarded-for': '203.0.113.77' };
    await t.http().post('/auth/register').send(u).expect(201);
    await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    await t.http().post('/auth/password/forgot').send({ email: u.email }).expect(202);
    await t.http().post('/auth/email/resend').set(forged).send({ email: u.email }).expect(202);
    await t.http().post('/auth/refresh').set(forged).send({ refreshToken: 'nope' }).expect(401);
    const limited = await t.http().post('/auth/login').set(forged).send({ email: u.email, password: u.password }).expect(429);
    expect(limited.body).toEqual(LOCKED);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Message patterns are not rate-limited; health is not an auth route.
    await t.rpc.tcp.send('auth.login', { email: u.email, password: u.password });
    await t.http().get('/health/live').expect(200);
  });

  it('with TRUST_PROXY, takes the address the proxy appended, so entries a client forges change nothing', async () => {
    t = await startTestApp({ RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: 'true', REDIS_URL: '' });
    // As the proxy forwards it: whatever the client sent, then the client's real address.
    const via = (forged: string, real: string) => ({ 'x-forwarded-for': `${forged}, ${real}` });
    await t.http().post('/auth/refresh').set(via('203.0.113.1', '198.51.100.1')).send({ refreshToken: 'nope' }).expect(401);
    await t.http().post('/auth/refresh').set(via('203.0.113.2', '198.51.100.1')).send({ refreshToken: 'nope' }).expect(401);
    await t.http().post('/auth/refresh').set(via('203.0.113.3', '198.51.100.1')).send({ refreshToken: 'nope' }).expect(429);
    await t.http().post('/auth/refresh').set(via('203.0.113.3', '198.51.100.2')).send({ refreshToken: 'nope' }).expect(401);
  });

  it('shares the window through Redis between instances', async () => {
    const env = { RATE_LIMIT_PER_MINUTE: '3', REDIS_PREFIX: `gatehouse-test-rl-${process.pid}-${Date.now()}` };
    t = await startTestApp(env);
    const other = await startTestApp(env);
    try {
      await t.http().post('/auth/refresh').send({ refreshToken: 'nope' }).expect(401);
      await other.http().post('/auth/refresh').send({ refreshToken: 'nope' }).expect(401);
      await t.http().post('/auth/refresh').send({ refreshToken: 'nope' }).expect(401);
      await other.http().post('/auth/refresh').send({ refreshToken: 'nope' }).expect(429);
    } finally {
      await other.close();
    }
  });
});

describe('browser-facing headers, CORS and oversized input', () => {
  let t: TestApp;
  const app = 'https://app.example.com';

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: `${app}, https://admin.example.com` });
  });
  afterAll(() => t.close());

  it('echoes an allowed origin exactly, with credentials and Vary: Origin', async () => {
    const res = await t
      .http()
      .post('/auth/login')
      .set('origin', app)
      .send({ email: 'x@example.com', password: 'whatever-password' })
      .expect(401);
    expect(res.headers['access-control-allow-origin']).toBe(app);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers.vary).toContain('Origin');
  });

  it('answers an allowed preflight, and gives unknown and null origins nothing', async () => {
    const preflight = await t.http().options('/auth/login').set('origin', app).set('access-control-request-method', 'POST').expect(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(app);
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    for (const origin of ['https://evil.example.com', 'null', 'https://app.example.com.evil.com']) {
      const res = await t.http().get('/health/live').set('origin', origin).expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      expect(res.headers.vary).toContain('Origin');
      const pre = await t.http().options('/auth/login').set('origin', origin).set('access-control-request-method', 'POST');
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it('sets nosniff, no-referrer and a closed CSP everywhere, no-store on auth routes, no X-Powered-By', async () => {
    for (const route of ['/health/live', '/.well-known/jwks.json', '/auth/me', '/no/such/route']) {
      const res = await t.http().get(route);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    expect((await t.http().get('/auth/me')).headers['cache-control']).toBe('no-store');
  });

  it('refuses a 1 MB password quickly (413) and a 10 KB one (400) without hashing, while health keeps answering', async () => {
    const big = t
      .http()
      .post('/auth/login')
      .send({ email: 'a@example.com', password: 'p'.repeat(1024 * 1024) });
    const health = t.http().get('/health/live');
    const [bigRes, healthRes] = await Promise.all([big, health]);
    expect(bigRes.status).toBe(413);
    expect(bigRes.body).toMatchObject({ statusCode: 413, code: 'VALIDATION_FAILED' });
    expect(healthRes.status).toBe(200);
    const ten = await t
      .http()
      .post('/auth/register')
      .send({ email: 'a@example.com', password: 'p'.repeat(10 * 1024) })
      .expect(400);
    expect(ten.body.errors).toEqual([{ field: 'password', messages: ['password must be at most 1024 bytes'] }]);
  });
});

describe('legacy password hashes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('imports bcrypt users over TCP; they log in, and their hash becomes argon2id on that login', async () => {
    const { hash: bcryptHash } = await import('@node-rs/bcrypt');
    const u = uniqueUser('legacy');
    const legacy = await bcryptHash(u.password, { cost: 4 });
    const prefixed = [legacy, legacy.replace(/^\$2b\$/, '$2a$'), legacy.replace(/^\$2b\$/, '$2y$')];
    const emails = prefixed.map((_, i) => `v${i}-${u.email}`);
    const reply = await t.rpc.tcp.send<{ imported: number; skipped: unknown[] }>('users.import', {
      users: prefixed.map((passwordHash, i) => ({ email: emails[i], passwordHash, emailVerified: true })),
    });
    expect(reply).toEqual({ imported: 3, skipped: [] });
    for (const email of emails) {
      await t.http().post('/auth/login').send({ email, password: 'not the password' }).expect(401);
      await t.http().post('/auth/login').send({ email, password: u.password }).expect(200);
      const row = await t.db.query('SELECT password_hash FROM users WHERE email = $1', [email]);
      expect(row[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      await t.http().post('/auth/login').send({ email, password: u.password }).expect(200);
    }
    const again = await t.rpc.tcp.send<{ imported: number; skipped: unknown[] }>('users.import', {
      users: [{ email: emails[0], passwordHash: legacy }],
    });
    expect(again).toEqual({ imported: 0, skipped: [{ email: emails[0], code: 'EMAIL_TAKEN' }] });
  });

  it('upgrades an argon2id hash with weaker parameters than configured', async () => {
    const { hash } = await import('@node-rs/argon2');
    const u = uniqueUser('weak');
    const weak = await hash(u.password, { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await t.rpc.tcp.send('users.import', { users: [{ email: u.email, passwordHash: weak, emailVerified: true }] });
    await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const row = await t.db.query('SELECT password_hash FROM users WHERE email = $1', [u.email]);
    expect(row[0].password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('keeps a bcrypt hash of a password over 72 bytes (bcrypt ignores the rest: no variant may become the password)', async () => {
    const { hash: bcryptHash } = await import('@node-rs/bcrypt');
    const u = uniqueUser('long');
    const long = `${'correct horse battery staple '.repeat(3)}and more`;
    await t.rpc.tcp.send('users.import', {
      users: [{ email: u.email, passwordHash: await bcryptHash(long, { cost: 4 }), emailVerified: true }],
    });
    await t.http().post('/auth/login').send({ email: u.email, password: long }).expect(200);
    expect((await t.db.query('SELECT password_hash FROM users WHERE email = $1', [u.email]))[0].password_hash).toMatch(/^\$2b\$/);
  });

  it('refuses hashes it cannot verify, or only at an unbounded cost, and validates every entry', async () => {
    for (const users of [
      [{ email: 'a@example.com', passwordHash: '$2b$31$' + 'a'.repeat(53) }],
      [{ email: 'a@example.com', passwordHash: '$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g' }],
      [{ email: 'a@example.com', passwordHash: 'md5:5f4dcc3b5aa765d61d8327deb882cf99' }],
      [],
      [{ email: 'nope', passwordHash: '$2b$04$' + 'a'.repeat(53) }],
    ]) {
      expect(await t.rpc.tcp.fail('users.import', { users })).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    }
  });
});

describe('cookie mode (AUTH_COOKIES=true) with CSRF defence', () => {
  let t: TestApp;
  const site = 'https://app.example.com';

  beforeAll(async () => {
    t = await startTestApp({ AUTH_COOKIES: 'true', APP_URL: site });
  });
  afterAll(() => t.close());

  function cookiesOf(setCookie: string[] | string | undefined): Record<string, { value: string; attributes: string }> {
    const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
    return Object.fromEntries(
      list.map((c) => {
        const [pair, ...attributes] = c.split('; ');
        const [name, value] = pair.split('=');
        return [name, { value: value ?? '', attributes: attributes.join('; ') }];
      }),
    );
  }

  async function loginWithCookies(): Promise<{
    jar: string;
    csrf: string;
    cookies: ReturnType<typeof cookiesOf>;
    body: { tokens: { accessToken: string; refreshToken?: string }; csrfToken?: string };
  }> {
    const u = await registerUser(t, 'cookie');
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const cookies = cookiesOf(res.headers['set-cookie']);
    const jar = ['gh_access', 'gh_refresh', 'gh_csrf'].map((n) => `${n}=${cookies[n].value}`).join('; ');
    return { jar, csrf: cookies.gh_csrf.value, cookies, body: res.body };
  }

  it('sets HttpOnly, Secure, SameSite=Lax cookies; the refresh token only as a cookie scoped to /auth', async () => {
    const { cookies, body } = await loginWithCookies();
    expect(cookies.gh_access.attributes).toMatch(/HttpOnly/);
    expect(cookies.gh_access.attributes).toMatch(/Secure/);
    expect(cookies.gh_access.attributes).toMatch(/SameSite=Lax/);
    expect(cookies.gh_access.attributes).toMatch(/Path=\//);
    expect(cookies.gh_refresh.attributes).toMatch(/Path=\/auth(;|$)/);
    expect(cookies.gh_refresh.attributes).toMatch(/HttpOnly/);
    expect(cookies.gh_csrf.attributes).not.toMatch(/HttpOnly/);
    expect(body.tokens.refreshToken).toBeUndefined();
    expect(body.tokens.accessToken).toBe(cookies.gh_access.value);
    expect(body.csrfToken).toBe(cookies.gh_csrf.value);
  });

  it('authenticates reads by cookie, and writes only with the CSRF token from an allowed origin', async () => {
    const { jar, csrf } = await loginWithCookies();
    await t.http().get('/auth/me').set('cookie', jar).expect(200);
    // A cross-site form post carries the cookies but cannot read gh_csrf: refused.
    expect((await t.http().post('/auth/logout').set('cookie', jar).expect(403)).body.code).toBe('FORBIDDEN');
    expect((await t.http().post('/auth/logout').set('cookie', jar).set('x-csrf-token', 'guess').expect(403)).body.code).toBe('FORBIDDEN');
    await t.http().post('/auth/logout').set('cookie', jar).set('x-csrf-token', csrf).set('origin', 'https://evil.example.com').expect(403);
    // The same-site request with the header passes, and logout clears the cookies.
    const out = await t.http().post('/auth/logout').set('cookie', jar).set('x-csrf-token', csrf).set('origin', site).expect(204);
    const cleared = cookiesOf(out.headers['set-cookie']);
    for (const name of ['gh_access', 'gh_refresh', 'gh_csrf'])
      expect(cleared[name].attributes).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/);
    await t.http().get('/auth/me').set('cookie', jar).expect(401);
  });

  it('refreshes from the refresh cookie with the CSRF token, rotating the cookies', async () => {
    const { jar, csrf, cookies } = await loginWithCookies();
    await t.http().post('/auth/refresh').set('cookie', jar).send({}).expect(403);
    const res = await t.http().post('/auth/refresh').set('cookie', jar).set('x-csrf-token', csrf).send({}).expect(200);
    const next = cookiesOf(res.headers['set-cookie']);
    expect(next.gh_refresh.value).not.toBe(cookies.gh_refresh.value);
    expect(res.body.tokens.refreshToken).toBeUndefined();
    await t.http().post('/auth/refresh').send({}).expect(400);
  });

  it('still accepts bearer tokens, which need no CSRF token', async () => {
    const { body } = await loginWithCookies();
    await t.http().post('/auth/logout').set('authorization', `Bearer ${body.tokens.accessToken}`).expect(204);
  });
});
