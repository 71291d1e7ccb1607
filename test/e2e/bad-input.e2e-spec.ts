import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

import { login } from '../support/accounts';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

type Body = Record<string, unknown>;
interface Answer {
  status: number;
  body: Body;
  headers: Record<string, string | string[] | undefined>;
}

const REFUSED = { statusCode: 400, code: 'VALIDATION_FAILED', message: expect.any(String) };
const NOT_JSON = { statusCode: 415, code: 'VALIDATION_FAILED', message: expect.any(String) };

/** An HTTP request with exactly these headers (supertest adds a Content-Type of its own). */
function rawHttp(baseUrl: string, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method, headers: { ...headers, 'content-length': String(body === undefined ? 0 : Buffer.byteLength(body)) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Body) : {}, headers: res.headers });
        });
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * One message-pattern call over TCP with the payload's JSON as given: a client's JSON.stringify
 * overflows its own stack on the deeply nested payloads sent here, so the frame is built by hand.
 */
function rawTcpCall(port: number, pattern: string, payloadJson: string): Promise<{ err?: Body; response?: unknown }> {
  const message = `{"pattern":${JSON.stringify(pattern)},"data":${payloadJson},"id":"${randomUUID()}"}`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const hash = buffer.indexOf('#');
      const length = Number(buffer.slice(0, hash));
      if (hash < 0 || buffer.length - hash - 1 < length) return;
      socket.destroy();
      resolve(JSON.parse(buffer.slice(hash + 1, hash + 1 + length)) as { err?: Body; response?: unknown });
    });
    socket.once('error', reject);
    socket.write(`${message.length}#${message}`);
  });
}

/** `levels` objects nested in one another, as JSON text (a client cannot stringify 5,000 levels). */
const nested = (levels: number): string => '{"a":'.repeat(levels - 1) + '{"a":1}' + '}'.repeat(levels - 1);
const fieldsOf = (body: Body): string[] => ((body.errors ?? []) as Array<{ field: string }>).map((e) => e.field).sort();
const cursor = (raw: string): string => Buffer.from(raw).toString('base64url');

describe('bad input: a 4xx with the contract body, never a 500, nothing written', () => {
  const admin = { ...uniqueUser('badadmin'), password: `Bad-input-${randomBytes(9).toString('hex')}` };
  let t: TestApp;
  let adminAuth: { authorization: string };
  const user = uniqueUser('badinput');
  let userId: string;
  let legacyHash: string;

  // PostgreSQL text cannot hold a NUL: for such an address, look for what stripping it would have stored.
  const userRows = async (email: string): Promise<number> =>
    (
      await t.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [
        email.normalize('NFKC').trim().toLowerCase().replace(/\0/g, ''),
      ])
    )[0].n as number;
  const sessionRows = async (): Promise<number> =>
    (await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [userId]))[0].n as number;

  beforeAll(async () => {
    t = await startTestApp({ BOOTSTRAP_ADMIN_EMAIL: admin.email, BOOTSTRAP_ADMIN_PASSWORD: admin.password });
    userId = (await t.http().post('/auth/register').send(user).expect(201)).body.user.id;
    const adminLogin = await t.http().post('/auth/login').send({ email: admin.email, password: admin.password }).expect(200);
    adminAuth = { authorization: `Bearer ${adminLogin.body.tokens.accessToken as string}` };
    const { hash } = await import('@node-rs/bcrypt');
    legacyHash = await hash('correct horse battery staple', { cost: 4 });
  });
  afterAll(() => t.close());

  describe('request bodies are JSON only (415)', () => {
    const json = JSON.stringify({ email: 'form@example.com', password: 'whatever password' });
    const bodies: Array<[string, string | undefined, string]> = [
      ['a form', 'application/x-www-form-urlencoded', 'email=form%40example.com&password=whatever+password'],
      [
        'multipart',
        'multipart/form-data; boundary=x',
        '--x\r\nContent-Disposition: form-data; name="email"\r\n\r\nform@example.com\r\n--x--\r\n',
      ],
      ['text/plain', 'text/plain', json],
      ['text/plain with a charset', 'text/plain;charset=UTF-8', json],
      ['XML', 'application/xml', '<login/>'],
      ['a +json type', 'application/vnd.api+json', json],
      ['merge-patch', 'application/merge-patch+json', json],
      ['JSON in latin-1', 'application/json; charset=iso-8859-1', json],
      ['no content type', undefined, json],
    ];
    const routes = [
      '/auth/register',
      '/auth/login',
      '/auth/refresh',
      '/auth/email/resend',
      '/auth/password/forgot',
      '/auth/password/reset',
      '/auth/email/verify',
      '/auth/logout',
    ];

    it.each(bodies)('refuses %s on every route that takes a body', async (_name, type, body) => {
      for (const route of routes) {
        const res = await rawHttp(t.baseUrl, 'POST', route, type ? { 'content-type': type } : {}, body);
        expect({ route, status: res.status, body: res.body }).toEqual({ route, status: 415, body: NOT_JSON });
      }
      const roles = await rawHttp(
        t.baseUrl,
        'PUT',
        `/users/${userId}/roles`,
        { ...adminAuth, ...(type ? { 'content-type': type } : {}) },
        body,
      );
      expect(roles.status).toBe(415);
    });

    it('logs nobody in from a form, with the right password', async () => {
      const before = await sessionRows();
      const form = `email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(user.password)}`;
      const res = await rawHttp(t.baseUrl, 'POST', '/auth/login', { 'content-type': 'application/x-www-form-urlencoded' }, form);
      expect(res.status).toBe(415);
      expect(res.body).toEqual(NOT_JSON);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await sessionRows()).toBe(before);
    });

    it.each(['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON'])(
      'accepts %s',
      async (type) => {
        const res = await rawHttp(
          t.baseUrl,
          'POST',
          '/auth/login',
          { 'content-type': type },
          JSON.stringify({ email: user.email, password: user.password }),
        );
        expect(res.status).toBe(200);
      },
    );
  });

  describe('an empty JSON body is no body', () => {
    it('lets POST /auth/logout and DELETE /sessions through with Content-Type: application/json and nothing else', async () => {
      const first = await login(t, { email: user.email, password: user.password });
      const second = await login(t, { email: user.email, password: user.password });
      const json = { 'content-type': 'application/json' };
      const others = await rawHttp(t.baseUrl, 'DELETE', '/sessions', { ...json, authorization: `Bearer ${second.tokens.accessToken}` });
      expect(others.status).toBe(204);
      await t.http().get('/auth/me').set('authorization', `Bearer ${first.tokens.accessToken}`).expect(401);
      const out = await rawHttp(t.baseUrl, 'POST', '/auth/logout', { ...json, authorization: `Bearer ${second.tokens.accessToken}` });
      expect(out.status).toBe(204);
      await t.http().get('/auth/me').set('authorization', `Bearer ${second.tokens.accessToken}`).expect(401);
    });

    it.each([
      ['/auth/register', ['email', 'password']],
      ['/auth/login', ['email', 'password', 'username']],
      ['/auth/refresh', ['refreshToken']],
      ['/auth/password/forgot', ['email']],
    ])('answers POST %s with an empty JSON body as for {}: 400 naming %j', async (route, fields) => {
      const res = await rawHttp(t.baseUrl, 'POST', route, { 'content-type': 'application/json' });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject(REFUSED);
      expect(fieldsOf(res.body)).toEqual(fields);
    });
  });

  describe('null where a string is due', () => {
    it.each([
      ['/auth/refresh', { refreshToken: null }, 'refreshToken'],
      ['/auth/register', { email: 'nullname@example.com', password: 'long enough password', username: null }, 'username'],
    ])('REST %s %j → 400 naming %s', async (route, body, field) => {
      const res = await t.http().post(route).send(body).expect(400);
      expect(res.body).toMatchObject(REFUSED);
      expect(fieldsOf(res.body)).toEqual([field]);
    });

    it.each([
      ['auth.refresh', 'refreshToken', () => ({ refreshToken: null })],
      ['auth.register', 'username', () => ({ email: 'nullname@example.com', password: 'long enough password', username: null })],
      [
        'users.import',
        'users.0.username',
        () => ({ users: [{ email: 'nullname@example.com', passwordHash: legacyHash, username: null }] }),
      ],
    ])('TCP %s → 400 naming %s', async (pattern, field, payload) => {
      const err = await t.rpc.tcp.fail(pattern, payload());
      expect(err).toMatchObject(REFUSED);
      expect(fieldsOf(err)).toEqual([field]);
    });

    it('wrote no user for them', async () => {
      expect(await userRows('nullname@example.com')).toBe(0);
    });
  });

  describe('JSON nested deeper than 32 levels', () => {
    const deep = nested(5000);

    it.each([
      ['/auth/refresh', `{"refreshToken":${deep}}`, 'refreshToken'],
      ['/auth/register', `{"email":"deep@example.com","password":"long enough password","username":${deep}}`, 'username'],
      ['/auth/login', `{"email":${deep},"password":"whatever"}`, 'email'],
      ['/auth/password/forgot', `{"email":"deep@example.com","x":${deep}}`, 'x'],
      ['/auth/refresh', `[${deep}]`, '0'],
    ])('REST %s → 400 naming the field', async (route, text, field) => {
      const res = await rawHttp(t.baseUrl, 'POST', route, { 'content-type': 'application/json' }, text);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ ...REFUSED, message: 'JSON nested deeper than 32 levels' });
      expect(fieldsOf(res.body)).toEqual([field]);
    });

    it('refuses it on a route without a body too, before doing anything', async () => {
      const session = await login(t, { email: user.email, password: user.password });
      const res = await rawHttp(
        t.baseUrl,
        'POST',
        '/auth/logout',
        { 'content-type': 'application/json', authorization: `Bearer ${session.tokens.accessToken}` },
        `{"x":${deep}}`,
      );
      expect(res.status).toBe(400);
      await t.http().get('/auth/me').set('authorization', `Bearer ${session.tokens.accessToken}`).expect(200);
    });

    it('draws the line at 32 levels exactly', async () => {
      // {"refreshToken": <31 levels>} is 32 deep: past the depth check, refused as not a string.
      const at = await rawHttp(
        t.baseUrl,
        'POST',
        '/auth/refresh',
        { 'content-type': 'application/json' },
        `{"refreshToken":${nested(31)}}`,
      );
      expect(at.body).toMatchObject({
        ...REFUSED,
        message: 'validation failed',
        errors: [{ field: 'refreshToken', messages: ['refreshToken must be a string'] }],
      });
      const over = await rawHttp(
        t.baseUrl,
        'POST',
        '/auth/refresh',
        { 'content-type': 'application/json' },
        `{"refreshToken":${nested(32)}}`,
      );
      expect(over.body).toMatchObject({ ...REFUSED, message: 'JSON nested deeper than 32 levels' });
    });

    it.each([
      ['auth.refresh', `{"refreshToken":${deep}}`, 'refreshToken'],
      ['auth.register', `{"email":"deep@example.com","password":"long enough password","username":${deep}}`, 'username'],
      ['auth.login', `{"email":"${user.email}","password":"whatever","connection":${deep}}`, 'connection'],
      ['users.findByEmail', `{"email":${deep}}`, 'email'],
      ['users.import', `{"users":[${deep}]}`, 'users'],
    ])('TCP %s → 400 naming the field, through the shared validation pipe', async (pattern, text, field) => {
      const { err } = await rawTcpCall(t.config.rpc.port, pattern, text);
      expect(err).toMatchObject({ ...REFUSED, message: 'JSON nested deeper than 32 levels' });
      expect(fieldsOf(err ?? {})).toEqual([field]);
    });

    it('wrote nothing, and the listeners still answer', async () => {
      expect(await userRows('deep@example.com')).toBe(0);
      expect(await t.rpc.tcp.send('users.findById', { id: randomUUID() })).toBeNull();
      await t.http().get('/health/live').expect(200);
    });
  });

  describe('malformed paging cursors', () => {
    const id = randomUUID();
    const cursors: Array<[string, string]> = [
      ['not base64 of anything', 'not-a-cursor'],
      ['a 13th month', cursor(`2024-13-45T99:99:99Z|${id}`)],
      ['30 February', cursor(`2024-02-30T00:00:00Z|${id}`)],
      ['hour 24', cursor(`2024-01-01T24:00:00Z|${id}`)],
      ['year 0', cursor(`0000-01-01T00:00:00Z|${id}`)],
      ['36 hyphens for an id', cursor(`2024-01-01T00:00:00Z|${'-'.repeat(36)}`)],
      ['a third part', cursor(`2024-01-01T00:00:00Z|${id}|x`)],
      ['nanoseconds', cursor(`2024-01-01T00:00:00.123456789Z|${id}`)],
      ['padding', `${cursor(`2024-01-01T00:00:00Z|${id}`)}==`],
      ['a NUL', '\u0000'],
    ];

    it.each(['/users', '/audit'])('GET %s refuses each with 400 naming cursor', async (route) => {
      for (const [name, value] of cursors) {
        const res = await t.http().get(route).query({ cursor: value }).set(adminAuth);
        expect({ name, status: res.status, body: res.body }).toEqual({
          name,
          status: 400,
          body: { ...REFUSED, errors: [{ field: 'cursor', messages: ['cursor is not valid'] }] },
        });
      }
    });

    it.each(['/users', '/audit'])('GET %s still pages with the cursors it hands out', async (route) => {
      const first = await t.http().get(route).query({ limit: 1 }).set(adminAuth).expect(200);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await t.http().get(route).query({ limit: 1, cursor: first.body.nextCursor }).set(adminAuth).expect(200);
      expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    });
  });

  describe('control characters in names and user agents', () => {
    it.each([
      ['/auth/register', { email: 'ctl@example.com', password: 'long enough password', username: 'ab\u0000cd' }, 'username'],
      ['/auth/login', { username: 'ab\u0000cd', password: 'whatever' }, 'username'],
    ])('REST %s %j → 400 naming %s', async (route, body, field) => {
      const res = await t.http().post(route).send(body).expect(400);
      expect(fieldsOf(res.body)).toEqual([field]);
    });

    it.each(['a\u0000b', 'a\u001b[31mred', 'a\r\nX-Injected: 1', 'a\u0085b', 'a\u007fb'])(
      'TCP auth.login refuses connection.userAgent %j and opens no session',
      async (agent) => {
        const before = await sessionRows();
        const err = await t.rpc.tcp.fail('auth.login', {
          email: user.email,
          password: user.password,
          connection: { ip: '203.0.113.9', userAgent: agent },
        });
        expect(err).toMatchObject(REFUSED);
        expect(err.errors).toEqual([{ field: 'connection.userAgent', messages: ['userAgent must not contain control characters'] }]);
        expect(await sessionRows()).toBe(before);
      },
    );

    it('TCP auth.loginWithUser and auth.refresh refuse one too, and the refresh token is not spent', async () => {
      const before = await sessionRows();
      const err = await t.rpc.tcp.fail('auth.loginWithUser', { userId, connection: { userAgent: 'x\u0000' } });
      expect(fieldsOf(err)).toEqual(['connection.userAgent']);
      expect(await sessionRows()).toBe(before);
      const session = await login(t, { email: user.email, password: user.password });
      const refused = await t.rpc.tcp.fail('auth.refresh', {
        refreshToken: session.tokens.refreshToken,
        connection: { userAgent: '\u001b]0;x\u0007' },
      });
      expect(fieldsOf(refused)).toEqual(['connection.userAgent']);
      await t.rpc.tcp.send('auth.refresh', { refreshToken: session.tokens.refreshToken, connection: { userAgent: 'fine/1.0' } });
    });

    it('TCP auth.register refuses a username with a NUL', async () => {
      const err = await t.rpc.tcp.fail('auth.register', {
        email: 'ctl@example.com',
        password: 'long enough password',
        username: 'ab\u0000cd',
      });
      expect(fieldsOf(err)).toEqual(['username']);
      expect(await userRows('ctl@example.com')).toBe(0);
    });

    it('strips control characters from the HTTP User-Agent before it is recorded', async () => {
      // Node's parser passes tabs and latin-1 C1 bytes (CSI, NEL) through; it refuses NUL, ESC and the rest itself.
      const agent = Buffer.from('evil\tagent\u009b31m\u0085end', 'latin1');
      const body = JSON.stringify({ email: user.email, password: user.password });
      const { port } = new URL(t.baseUrl);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        socket.once('end', () => resolve(text));
        socket.once('error', reject);
        socket.write(
          Buffer.concat([
            Buffer.from(
              'POST /auth/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nUser-Agent: ',
            ),
            agent,
            Buffer.from(`\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`),
          ]),
        );
      });
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      const res = { body: JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { sessionId: string } };
      const [row] = await t.db.query('SELECT user_agent FROM sessions WHERE id = $1', [res.body.sessionId]);
      expect(row.user_agent).toBe('evil agent 31m end');
      // The audit entry is written by an event listener, just after the answer.
      let audit: Array<{ user_agent: string }> = [];
      for (let i = 0; i < 50 && audit.length === 0; i += 1) {
        audit = await t.db.query(`SELECT user_agent FROM audit_log WHERE session_id = $1 AND type = 'user.logged_in'`, [
          res.body.sessionId,
        ]);
        if (audit.length === 0) await new Promise((r) => setTimeout(r, 20));
      }
      expect(audit).toEqual([{ user_agent: 'evil agent 31m end' }]);
    });
  });

  describe('email addresses: no quoted local parts, CR/LF, control or invisible characters', () => {
    const emails = [
      '"x\r\nBcc: y"@example.com',
      '"quoted"@example.com',
      'x\u0000y@example.com',
      'x\ry@example.com',
      'x@exam\u202eple.com',
      'so\u00adft@example.com',
      'a\\b@example.com',
    ];
    const password = 'long enough password';

    it.each(emails)('REST refuses %j on register, login, forgot, resend and the admin filter', async (email) => {
      const answers: Array<[string, { status: number; body: Body }]> = [
        ['register', await t.http().post('/auth/register').send({ email, password })],
        ['login', await t.http().post('/auth/login').send({ email, password })],
        ['forgot', await t.http().post('/auth/password/forgot').send({ email })],
        ['resend', await t.http().post('/auth/email/resend').send({ email })],
        ['users filter', await t.http().get('/users').query({ email }).set(adminAuth)],
      ];
      for (const [route, res] of answers) {
        expect({ route, status: res.status, body: res.body, fields: fieldsOf(res.body) }).toEqual({
          route,
          status: 400,
          body: expect.objectContaining(REFUSED),
          fields: ['email'],
        });
      }
      expect(await userRows(email)).toBe(0);
    });

    it.each(emails)(
      'TCP refuses %j on auth.register, auth.login, auth.password.forgot, auth.email.resend, users.findByEmail, users.import',
      async (email) => {
        const calls: Array<[string, Body, string]> = [
          ['auth.register', { email, password }, 'email'],
          ['auth.login', { email, password }, 'email'],
          ['auth.password.forgot', { email }, 'email'],
          ['auth.email.resend', { email }, 'email'],
          ['users.findByEmail', { email }, 'email'],
          ['users.import', { users: [{ email, passwordHash: legacyHash }] }, 'users.0.email'],
        ];
        for (const [pattern, payload, field] of calls) {
          const err = await t.rpc.tcp.fail(pattern, payload);
          expect({ pattern, body: err, fields: fieldsOf(err) }).toEqual({
            pattern,
            body: expect.objectContaining(REFUSED),
            fields: [field],
          });
        }
        expect(await userRows(email)).toBe(0);
      },
    );
  });
});

describe('cookie mode: logins and refreshes only from allowed origins', () => {
  const site = 'https://accounts.example.test';
  const app = 'https://app.example.test';
  let t: TestApp;
  const user = uniqueUser('origin');
  let userId: string;

  const sessionRows = async (): Promise<number> =>
    (await t.db.query('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1', [userId]))[0].n as number;
  const loginBody = (): string => JSON.stringify({ email: user.email, password: user.password });

  beforeAll(async () => {
    t = await startTestApp({ AUTH_COOKIES: 'true', APP_URL: `${site}/app`, CORS_ORIGINS: app });
    userId = (await t.http().post('/auth/register').send(user).expect(201)).body.user.id;
  });
  afterAll(() => t.close());

  it.each(['https://evil.example', 'null', `${site}.evil.example`, 'http://accounts.example.test', `${app}:8443`])(
    'refuses a login from %s with 403, no cookie and no session',
    async (origin) => {
      const before = await sessionRows();
      for (const [type, body] of [
        ['application/json', loginBody()],
        ['application/x-www-form-urlencoded', `email=${encodeURIComponent(user.email)}&password=${encodeURIComponent(user.password)}`],
      ]) {
        const res = await rawHttp(t.baseUrl, 'POST', '/auth/login', { 'content-type': type, origin }, body);
        expect({ type, status: res.status, body: res.body }).toEqual({
          type,
          status: 403,
          body: { statusCode: 403, code: 'FORBIDDEN', message: expect.any(String) },
        });
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect(await sessionRows()).toBe(before);
    },
  );

  it.each([[site], [app], [undefined]])('logs in from %s (or without an Origin)', async (origin) => {
    const res = await rawHttp(
      t.baseUrl,
      'POST',
      '/auth/login',
      { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      loginBody(),
    );
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(expect.arrayContaining([expect.stringMatching(/^gh_refresh=/)]));
  });

  it('refuses a refresh from another origin without spending the refresh cookie', async () => {
    const res = await rawHttp(t.baseUrl, 'POST', '/auth/login', { 'content-type': 'application/json', origin: site }, loginBody());
    const cookies = Object.fromEntries(
      ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0].split('=') as [string, string]),
    );
    const jar = ['gh_access', 'gh_refresh', 'gh_csrf'].map((n) => `${n}=${cookies[n]}`).join('; ');
    const headers = { 'content-type': 'application/json', cookie: jar, 'x-csrf-token': cookies.gh_csrf };
    const refused = await rawHttp(t.baseUrl, 'POST', '/auth/refresh', { ...headers, origin: 'https://evil.example' }, '{}');
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('FORBIDDEN');
    const ok = await rawHttp(t.baseUrl, 'POST', '/auth/refresh', { ...headers, origin: app }, '{}');
    expect(ok.status).toBe(200);
  });
});
