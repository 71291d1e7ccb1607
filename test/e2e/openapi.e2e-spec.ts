import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

import { startTestApp, testDatabaseUrl, uniqueUser, type TestApp } from '../support/test-app';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Access = 'public' | 'auth' | 'admin';

interface ContractRoute {
  method: Method;
  path: string;
  access: Access;
  success: number[];
  /** Error statuses the contract names for this route, beyond those implied below. */
  errors?: number[];
  /** Required fields of the JSON body, when the route takes one. */
  body?: string[];
  query?: string[];
  /** Rate-limited per client address (unauthenticated auth routes). */
  limited?: boolean;
  /** Reaches the database on every call, so may answer SERVICE_UNAVAILABLE. */
  db?: boolean;
}

// The REST table of the service contract (and GET /audit from its events section), route by route.
const CONTRACT: ContractRoute[] = [
  {
    method: 'post',
    path: '/auth/register',
    access: 'public',
    success: [201, 202],
    errors: [409],
    body: ['email', 'password'],
    limited: true,
    db: true,
  },
  {
    method: 'post',
    path: '/auth/login',
    access: 'public',
    success: [200],
    errors: [401, 403],
    body: ['password'],
    limited: true,
    db: true,
  },
  {
    method: 'post',
    path: '/auth/refresh',
    access: 'public',
    success: [200],
    errors: [401],
    body: ['refreshToken'],
    limited: true,
    db: true,
  },
  { method: 'post', path: '/auth/logout', access: 'auth', success: [204], db: true },
  { method: 'get', path: '/auth/me', access: 'auth', success: [200], db: true },
  { method: 'post', path: '/auth/email/verify', access: 'public', success: [200], body: ['token'], limited: true, db: true },
  { method: 'post', path: '/auth/email/resend', access: 'public', success: [202], body: ['email'], limited: true },
  { method: 'post', path: '/auth/password/forgot', access: 'public', success: [202], body: ['email'], limited: true },
  { method: 'post', path: '/auth/password/reset', access: 'public', success: [204], body: ['token', 'password'], limited: true, db: true },
  {
    method: 'post',
    path: '/auth/password/change',
    access: 'auth',
    success: [204],
    errors: [429],
    body: ['currentPassword', 'newPassword'],
    db: true,
  },
  // Release 2, "Self-service account".
  { method: 'patch', path: '/auth/me', access: 'auth', success: [200], errors: [409], body: [], limited: true, db: true },
  { method: 'post', path: '/auth/email/change', access: 'auth', success: [202], errors: [403], body: ['newEmail'], limited: true },
  {
    method: 'post',
    path: '/auth/email/change/confirm',
    access: 'public',
    success: [200],
    errors: [409],
    body: ['token'],
    limited: true,
    db: true,
  },
  { method: 'get', path: '/auth/me/export', access: 'auth', success: [200], db: true },
  { method: 'post', path: '/auth/me/delete', access: 'auth', success: [202], errors: [403, 409], db: true },
  { method: 'get', path: '/sessions', access: 'auth', success: [200], db: true },
  { method: 'delete', path: '/sessions/{id}', access: 'auth', success: [204], errors: [404], db: true },
  { method: 'delete', path: '/sessions', access: 'auth', success: [204], db: true },
  { method: 'get', path: '/users/{id}', access: 'admin', success: [200], errors: [404], db: true },
  {
    method: 'get',
    path: '/users',
    access: 'admin',
    success: [200],
    errors: [400],
    query: ['email', 'username', 'limit', 'cursor'],
    db: true,
  },
  { method: 'post', path: '/users/{id}/deactivate', access: 'admin', success: [204], errors: [404], db: true },
  { method: 'post', path: '/users/{id}/activate', access: 'admin', success: [204], errors: [404], db: true },
  { method: 'put', path: '/users/{id}/roles', access: 'admin', success: [200], errors: [404], body: ['roles'], db: true },
  { method: 'post', path: '/auth/impersonate', access: 'admin', success: [200], errors: [404], body: ['userId'], db: true },
  { method: 'get', path: '/auth/mfa', access: 'auth', success: [200], db: true },
  { method: 'post', path: '/auth/mfa/totp/setup', access: 'auth', success: [200], errors: [401, 403], db: true },
  { method: 'post', path: '/auth/mfa/totp/confirm', access: 'auth', success: [200], errors: [401, 403, 429], body: ['code'], db: true },
  { method: 'delete', path: '/auth/mfa/totp', access: 'auth', success: [204], errors: [401, 403], db: true },
  { method: 'post', path: '/auth/mfa/recovery-codes', access: 'auth', success: [200], errors: [401, 403], db: true },
  { method: 'delete', path: '/users/{id}/mfa', access: 'admin', success: [204], errors: [404], db: true },
  { method: 'get', path: '/audit', access: 'admin', success: [200], errors: [400], query: ['userId', 'type', 'limit', 'cursor'], db: true },
  { method: 'get', path: '/.well-known/jwks.json', access: 'public', success: [200] },
  { method: 'get', path: '/health/live', access: 'public', success: [200] },
  { method: 'get', path: '/health/ready', access: 'public', success: [200], errors: [503] },
  { method: 'get', path: '/metrics', access: 'public', success: [200] },
  { method: 'get', path: '/docs', access: 'public', success: [200] },
  { method: 'get', path: '/docs-json', access: 'public', success: [200] },
];

// The message-pattern table of the contract.
const PATTERNS: Array<{ pattern: string; access: 'trusted' | 'token' | 'admin'; payload: string[] }> = [
  { pattern: 'auth.register', access: 'trusted', payload: ['email', 'password'] },
  { pattern: 'auth.login', access: 'trusted', payload: ['password'] },
  { pattern: 'auth.refresh', access: 'trusted', payload: ['refreshToken'] },
  { pattern: 'auth.logout', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.verify', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.loginWithUser', access: 'trusted', payload: ['userId'] },
  { pattern: 'auth.impersonate', access: 'admin', payload: ['accessToken', 'userId'] },
  { pattern: 'auth.email.verify', access: 'trusted', payload: ['token'] },
  { pattern: 'auth.password.forgot', access: 'trusted', payload: ['email'] },
  { pattern: 'auth.password.reset', access: 'trusted', payload: ['token', 'password'] },
  { pattern: 'users.findById', access: 'trusted', payload: ['id'] },
  { pattern: 'users.findByEmail', access: 'trusted', payload: ['email'] },
  { pattern: 'users.deactivate', access: 'trusted', payload: ['id'] },
  { pattern: 'users.activate', access: 'trusted', payload: ['id'] },
  { pattern: 'users.updateProfile', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.email.change', access: 'token', payload: ['accessToken', 'newEmail'] },
  { pattern: 'auth.email.change.confirm', access: 'trusted', payload: ['token'] },
  { pattern: 'users.export', access: 'token', payload: ['accessToken'] },
  { pattern: 'users.delete', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.mfa.status', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.mfa.totp.setup', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.mfa.totp.confirm', access: 'token', payload: ['accessToken', 'code'] },
  { pattern: 'auth.mfa.totp.disable', access: 'token', payload: ['accessToken'] },
  { pattern: 'auth.mfa.recoveryCodes.regenerate', access: 'token', payload: ['accessToken'] },
  { pattern: 'users.mfa.reset', access: 'trusted', payload: ['id'] },
  { pattern: 'sessions.list', access: 'trusted', payload: ['userId'] },
  { pattern: 'sessions.revoke', access: 'trusted', payload: ['sessionId'] },
];

const CODES = [
  'VALIDATION_FAILED',
  'INVALID_CREDENTIALS',
  'UNAUTHORIZED',
  'INVALID_REFRESH_TOKEN',
  'REFRESH_TOKEN_REUSED',
  'EMAIL_NOT_VERIFIED',
  'USER_DEACTIVATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'EMAIL_TAKEN',
  'USERNAME_TAKEN',
  'INVALID_TOKEN',
  'PASSWORD_REQUIRED',
  'LAST_ADMIN',
  'MFA_REQUIRED',
  'INVALID_MFA_CODE',
  'REAUTH_REQUIRED',
  'TOO_MANY_REQUESTS',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_ERROR',
];

const STRICT_CSP = "default-src 'none'; frame-ancestors 'none'";

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  oneOf?: Schema[];
  nullable?: boolean;
}
interface Response {
  description: string;
  content?: Record<string, { schema?: Schema; examples?: Record<string, { value: { code?: string; statusCode?: number } }> }>;
}
interface Operation {
  summary?: string;
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean }>;
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, Response>;
}
interface Doc {
  openapi: string;
  info: { title: string; version: string; description: string };
  paths: Record<string, Partial<Record<Method, Operation>>>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, { type: string; in?: string; name?: string; scheme?: string }>;
  };
  'x-message-patterns': Array<{
    pattern: string;
    summary: string;
    access: string;
    payload: Schema;
    reply: Schema;
    errors: Array<{ code: string; statusCode: number }>;
  }>;
}

/**
 * A login's 200: one of the session (LoginResult, or CookieLoginResult in cookie mode) and the step
 * to a second factor (MfaRequired); the session's schema, resolved.
 */
function loginSessionSchema(doc: Doc, schema: Schema | undefined): Schema {
  const outcomes = (schema?.oneOf ?? []).map((s) => s.$ref);
  expect(outcomes).toHaveLength(2);
  expect(outcomes[1]).toBe('#/components/schemas/MfaRequired');
  expect(resolve(doc, schema?.oneOf?.[1]).required).toEqual(['mfaRequired', 'mfaToken', 'methods', 'expiresIn']);
  return resolve(doc, schema?.oneOf?.[0]);
}

function resolve(doc: Doc, schema: Schema | undefined): Schema {
  if (!schema) throw new Error('no schema');
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const found = doc.components.schemas[name];
  if (!found) throw new Error(`unresolved ${schema.$ref}`);
  return found;
}

const jsonSchema = (response: Response | undefined): Schema | undefined => response?.content?.['application/json']?.schema;

function operation(doc: Doc, method: Method, path: string): Operation {
  const op = doc.paths[path]?.[method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in the document`);
  return op;
}

describe('OpenAPI document and UI', () => {
  const jwtSecret = randomBytes(32).toString('base64url');
  const adminPassword = `Op3nApi-${randomBytes(12).toString('hex')}`;
  const admin = uniqueUser('docsadmin');
  let t: TestApp;
  let doc: Doc;
  let raw: string;

  beforeAll(async () => {
    t = await startTestApp({
      JWT_ALGORITHM: 'HS256',
      JWT_SECRET: jwtSecret,
      BOOTSTRAP_ADMIN_EMAIL: admin.email,
      BOOTSTRAP_ADMIN_PASSWORD: adminPassword,
    });
    const res = await t.http().get('/docs-json').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    raw = res.text;
    doc = JSON.parse(raw) as Doc;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('is an OpenAPI 3 document titled gatehouse at the package version, with the bearer scheme', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../..', 'package.json'), 'utf8')) as { version: string };
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info.title).toBe('gatehouse');
    expect(doc.info.version).toBe(pkg.version);
    expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    expect(Object.keys(doc.components.schemas).length).toBeGreaterThan(0);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // Without AUTH_COOKIES there is no cookie scheme.
    expect(Object.values(doc.components.securitySchemes).filter((s) => s.in === 'cookie')).toEqual([]);
  });

  it('resolves every $ref and gives every operation a summary and a unique operationId', () => {
    const refs = [...raw.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(20);
    expect(refs.filter((name) => !doc.components.schemas[name])).toEqual([]);
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries<Operation | undefined>(item)) {
        if (!op) continue;
        expect({ route: `${method} ${path}`, summary: Boolean(op.summary?.trim()) }).toEqual({ route: `${method} ${path}`, summary: true });
        if (op.operationId) ids.push(op.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('lists every route of the contract with its method', () => {
    const missing = CONTRACT.filter((r) => !doc.paths[r.path]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it.each(CONTRACT.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))(
    '%s documents its success and error answers',
    (_name, route) => {
      const op = operation(doc, route.method, route.path);
      const statuses = Object.keys(op.responses).map(Number);
      const expected = [...route.success, ...(route.errors ?? [])];
      if (route.body) expected.push(400, 413, 415);
      if (route.access !== 'public') expected.push(401);
      if (route.access === 'admin') expected.push(403);
      if (route.limited) expected.push(429);
      if (route.db) expected.push(503);
      expect(statuses).toEqual(expect.arrayContaining(expected));
      for (const status of route.success) expect(op.responses[String(status)]?.description).toBeTruthy();

      // Authenticated routes name the bearer scheme; public ones need nothing.
      if (route.access === 'public') expect(op.security ?? []).toEqual([]);
      else expect(op.security).toContainEqual({ bearer: [] });

      // Every error answer of ours: the ErrorBody schema, with the codes named and exemplified.
      const isOurs = route.path !== '/health/ready';
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400 || !isOurs) continue;
        expect(jsonSchema(response)).toEqual({ $ref: '#/components/schemas/ErrorBody' });
        const examples = Object.values(response.content?.['application/json']?.examples ?? {});
        expect(examples.length).toBeGreaterThan(0);
        for (const example of examples) {
          expect(CODES).toContain(example.value.code);
          expect(example.value.statusCode).toBe(Number(status));
          expect(response.description).toContain(`\`${example.value.code}\``);
        }
      }

      if (route.body) {
        const body = resolve(doc, op.requestBody?.content['application/json']?.schema);
        expect(body.required ?? []).toEqual(expect.arrayContaining(route.body));
        expect(Object.keys(body.properties ?? {})).toEqual(expect.arrayContaining(route.body));
      } else {
        expect(op.requestBody).toBeUndefined();
      }
      for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: name.slice(1, -1), in: 'path', required: true }));
      }
      for (const name of route.query ?? []) {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name, in: 'query', required: false }));
      }
    },
  );

  it('names the codes the contract gives each route', () => {
    const described = (method: Method, path: string, status: number): string =>
      operation(doc, method, path).responses[String(status)]?.description ?? '';
    expect(described('post', '/auth/register', 409)).toContain('EMAIL_TAKEN');
    expect(described('post', '/auth/register', 409)).toContain('USERNAME_TAKEN');
    expect(described('post', '/auth/login', 400)).toContain('username or email is required');
    expect(described('post', '/auth/login', 401)).toContain('INVALID_CREDENTIALS');
    expect(described('post', '/auth/login', 403)).toContain('EMAIL_NOT_VERIFIED');
    expect(described('post', '/auth/login', 403)).toContain('USER_DEACTIVATED');
    expect(described('post', '/auth/login', 429)).toContain('TOO_MANY_REQUESTS');
    expect(described('post', '/auth/refresh', 401)).toContain('INVALID_REFRESH_TOKEN');
    expect(described('post', '/auth/refresh', 401)).toContain('REFRESH_TOKEN_REUSED');
    expect(described('post', '/auth/email/verify', 400)).toContain('INVALID_TOKEN');
    expect(described('post', '/auth/password/reset', 400)).toContain('INVALID_TOKEN');
    expect(described('post', '/auth/password/change', 401)).toContain('INVALID_CREDENTIALS');
    expect(described('delete', '/sessions/{id}', 404)).toContain('NOT_FOUND');
    expect(described('get', '/users', 403)).toContain('FORBIDDEN');
    expect(described('get', '/auth/me', 401)).toContain('UNAUTHORIZED');
    expect(described('get', '/auth/me', 503)).toContain('SERVICE_UNAVAILABLE');
    expect(described('post', '/auth/impersonate', 404)).toContain('NOT_FOUND');
    expect(described('post', '/auth/mfa/totp/setup', 401)).toContain('REAUTH_REQUIRED');
    expect(described('post', '/auth/mfa/totp/confirm', 401)).toContain('INVALID_MFA_CODE');
    expect(described('delete', '/auth/mfa/totp', 403)).toContain('MFA_REQUIRED');
    expect(described('delete', '/auth/mfa/totp', 401)).toContain('REAUTH_REQUIRED');
    expect(described('post', '/auth/mfa/recovery-codes', 403)).toContain('MFA_REQUIRED');
    expect(operation(doc, 'post', '/auth/login').responses['429']).toHaveProperty('headers.Retry-After');
  });

  it('describes the bodies the service really answers with', async () => {
    const user = uniqueUser('docs');
    const registered = await t.http().post('/auth/register').send(user).expect(201);
    expect(Object.keys(registered.body as object).sort()).toEqual(
      Object.keys(resolve(doc, jsonSchema(operation(doc, 'post', '/auth/register').responses['201'])).properties ?? {}).sort(),
    );

    const login = await t.http().post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    const loginSchema = loginSessionSchema(doc, jsonSchema(operation(doc, 'post', '/auth/login').responses['200']));
    expect(loginSchema.required).toEqual(expect.arrayContaining(['sessionId', 'tokens', 'user']));
    expect(Object.keys(login.body as object).sort()).toEqual(Object.keys(loginSchema.properties ?? {}).sort());
    const tokenPair = resolve(doc, loginSchema.properties?.tokens);
    expect(Object.keys(login.body.tokens as object).sort()).toEqual(Object.keys(tokenPair.properties ?? {}).sort());
    expect(tokenPair.required?.sort()).toEqual(Object.keys(login.body.tokens as object).sort());

    const bearer = `Bearer ${login.body.tokens.accessToken as string}`;
    const me = await t.http().get('/auth/me').set('Authorization', bearer).expect(200);
    const userSchema = resolve(doc, resolve(doc, jsonSchema(operation(doc, 'get', '/auth/me').responses['200'])).properties?.user);
    expect(Object.keys(me.body.user as object).sort()).toEqual(Object.keys(userSchema.properties ?? {}).sort());
    expect(Object.keys(userSchema.properties ?? {}).sort()).toEqual([
      'createdAt',
      'deactivated',
      'displayName',
      'email',
      'emailVerified',
      'id',
      'mfaEnabled',
      'roles',
      'updatedAt',
      'username',
    ]);
    expect(userSchema.properties?.username).toMatchObject({ type: 'string', nullable: true });

    const mfa = await t.http().get('/auth/mfa').set('Authorization', bearer).expect(200);
    const mfaSchema = resolve(doc, jsonSchema(operation(doc, 'get', '/auth/mfa').responses['200']));
    expect(Object.keys(mfa.body as object).sort()).toEqual(Object.keys(mfaSchema.properties ?? {}).sort());
    expect(Object.keys(mfa.body.totp as object).sort()).toEqual(
      Object.keys(resolve(doc, mfaSchema.properties?.totp).properties ?? {}).sort(),
    );

    const sessions = await t.http().get('/sessions').set('Authorization', bearer).expect(200);
    const list = jsonSchema(operation(doc, 'get', '/sessions').responses['200']);
    expect(list?.type).toBe('array');
    const sessionSchema = resolve(doc, list?.items);
    expect(Object.keys(sessions.body[0] as object).sort()).toEqual(Object.keys(sessionSchema.properties ?? {}).sort());
    expect(Object.keys(sessionSchema.properties ?? {}).sort()).toEqual([
      'createdAt',
      'current',
      'expiresAt',
      'id',
      'impersonatedUserId',
      'impersonatorId',
      'ip',
      'lastUsedAt',
      'userAgent',
    ]);

    const adminLogin = await t.http().post('/auth/login').send({ email: admin.email, password: adminPassword }).expect(200);
    const users = await t
      .http()
      .get('/users')
      .query({ limit: 1 })
      .set('Authorization', `Bearer ${adminLogin.body.tokens.accessToken as string}`)
      .expect(200);
    const page = resolve(doc, jsonSchema(operation(doc, 'get', '/users').responses['200']));
    expect(Object.keys(users.body as object).sort()).toEqual(Object.keys(page.properties ?? {}).sort());
    expect(resolve(doc, page.properties?.items?.items)).toBe(userSchema);

    const refused = await t.http().post('/auth/login').send({ password: 'x' }).expect(400);
    const errorBody = doc.components.schemas.ErrorBody;
    expect(Object.keys(refused.body as object).every((k) => k in (errorBody.properties ?? {}))).toBe(true);
    expect(errorBody.properties?.code?.enum).toContain(refused.body.code);
    expect(errorBody.required).toEqual(expect.arrayContaining(['statusCode', 'code', 'message']));
  });

  it('documents every message pattern of the contract with its payload, reply and errors', () => {
    const patterns = doc['x-message-patterns'];
    expect(patterns.map((p) => p.pattern)).toEqual(expect.arrayContaining(PATTERNS.map((p) => p.pattern)));
    for (const expected of PATTERNS) {
      const entry = patterns.find((p) => p.pattern === expected.pattern);
      if (!entry) throw new Error(`${expected.pattern} is missing`);
      expect(entry.summary.trim()).toBeTruthy();
      const payload = resolve(doc, entry.payload);
      expect({ pattern: entry.pattern, required: payload.required }).toEqual({
        pattern: entry.pattern,
        required: expect.arrayContaining(expected.payload),
      });
      expect(entry.reply.$ref ?? entry.reply.type ?? entry.reply.oneOf).toBeTruthy();
      const codes = entry.errors.map((e) => e.code);
      expect(codes).toContain('VALIDATION_FAILED');
      if (expected.access !== 'trusted') expect(codes).toContain('UNAUTHORIZED');
      if (expected.access === 'admin') expect(codes).toContain('FORBIDDEN');
      for (const e of entry.errors) expect(CODES).toContain(e.code);
      // Listed for people in the description as well (the UI does not show extensions).
      expect(doc.info.description).toContain(`\`${expected.pattern}\``);
    }
    const login = patterns.find((p) => p.pattern === 'auth.login');
    expect(loginSessionSchema(doc, login?.reply).required).toEqual(expect.arrayContaining(['sessionId', 'tokens', 'user']));
    expect(login?.errors.map((e) => e.code)).toEqual(expect.arrayContaining(['INVALID_CREDENTIALS', 'TOO_MANY_REQUESTS']));
    expect(patterns.find((p) => p.pattern === 'users.findById')?.reply).toMatchObject({ nullable: true });
    expect(patterns.find((p) => p.pattern === 'sessions.list')?.reply).toMatchObject({ type: 'array' });
  });

  it('leaks no configuration: no secret, password, address or database name', async () => {
    const ui = await t.http().get('/docs/swagger-ui-init.js').expect(200);
    const database = new URL(testDatabaseUrl());
    for (const text of [raw, ui.text]) {
      for (const secret of [
        jwtSecret,
        adminPassword,
        admin.email,
        testDatabaseUrl(),
        database.pathname.slice(1),
        t.config.redis?.prefix ?? 'no-redis-prefix',
      ]) {
        expect(text.includes(secret)).toBe(false);
      }
    }
  });

  it('serves the Swagger UI at /docs without a token, its assets included, under a policy relaxed for it alone', async () => {
    const page = await t.http().get('/docs').expect(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('<div id="swagger-ui"></div>');
    expect(page.text).toContain('<title>gatehouse API</title>');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline|\*/);

    const assets = [...page.text.matchAll(/(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]).filter((u) => !u.startsWith('http'));
    const types: Record<string, RegExp> = { js: /^(application|text)\/javascript/, css: /^text\/css/, png: /^image\/png/ };
    const seen = new Set<string>();
    for (const asset of assets) {
      const url = new URL(asset, `${t.baseUrl}/docs`);
      const extension = url.pathname.split('.').pop() ?? '';
      if (!types[extension]) continue;
      seen.add(extension);
      const res = await t.http().get(url.pathname).expect(200);
      expect({ asset: url.pathname, type: res.headers['content-type'] }).toEqual({
        asset: url.pathname,
        type: expect.stringMatching(types[extension]),
      });
      expect(Number(res.headers['content-length'])).toBeGreaterThan(0);
    }
    expect([...seen].sort()).toEqual(['css', 'js', 'png']);
    expect(assets).toEqual(expect.arrayContaining(['./docs/swagger-ui-bundle.js', './docs/swagger-ui-init.js', './docs/swagger-ui.css']));

    const init = await t.http().get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toContain('"title": "gatehouse"');
    expect(init.text).toContain('"validatorUrl": null');
    // The page's own script must at least compile (a broken one would leave the UI blank).
    expect(() => new Script(init.text)).not.toThrow();

    // Everything else keeps the closed policy.
    const json = await t.http().get('/docs-json').expect(200);
    expect(json.headers['content-security-policy']).toBe(STRICT_CSP);
    const me = await t.http().get('/auth/me').expect(401);
    expect(me.headers['content-security-policy']).toBe(STRICT_CSP);
    const jwks = await t.http().get('/.well-known/jwks.json').expect(200);
    expect(jwks.headers['content-security-policy']).toBe(STRICT_CSP);
  });
});

describe('OpenAPI document in cookie mode', () => {
  let t: TestApp;
  let doc: Doc;

  beforeAll(async () => {
    t = await startTestApp({ AUTH_COOKIES: 'true', APP_URL: 'https://accounts.example.test' });
    doc = (await t.http().get('/docs-json').expect(200)).body as Doc;
  });

  afterAll(async () => {
    await t?.close();
  });

  it('adds the cookie schemes and the CSRF header, and the CSRF refusal on authenticated writes', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      bearer: { type: 'http', scheme: 'bearer' },
      accessCookie: { type: 'apiKey', in: 'cookie', name: 'gh_access' },
      refreshCookie: { type: 'apiKey', in: 'cookie', name: 'gh_refresh' },
      csrfHeader: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
    });
    const logout = operation(doc, 'post', '/auth/logout');
    expect(logout.security).toEqual([{ bearer: [] }, { accessCookie: [], csrfHeader: [] }]);
    expect(logout.responses['403']?.description).toContain('CSRF');
    expect(operation(doc, 'get', '/auth/me').security).toEqual([{ bearer: [] }, { accessCookie: [] }]);
    expect(operation(doc, 'get', '/auth/me').responses['403']).toBeUndefined();
    const revoke = operation(doc, 'delete', '/sessions/{id}');
    expect(revoke.security).toContainEqual({ accessCookie: [], csrfHeader: [] });
    expect(operation(doc, 'post', '/auth/refresh').security).toContainEqual({ refreshCookie: [], csrfHeader: [] });
    for (const path of ['/auth/login', '/auth/refresh'])
      expect(operation(doc, 'post', path).responses['403']?.description).toContain('`Origin`');
  });

  it('answers login and refresh without the refresh token in the body, as documented', async () => {
    const schema = loginSessionSchema(doc, jsonSchema(operation(doc, 'post', '/auth/login').responses['200']));
    expect(schema.required).toContain('csrfToken');
    expect(resolve(doc, schema.properties?.tokens).properties).not.toHaveProperty('refreshToken');
    expect(resolve(doc, jsonSchema(operation(doc, 'post', '/auth/refresh').responses['200']))).toBe(schema);
    // The refresh token may come from the cookie instead of the body.
    const refreshBody = resolve(doc, operation(doc, 'post', '/auth/refresh').requestBody?.content['application/json']?.schema);
    expect(refreshBody.required ?? []).not.toContain('refreshToken');

    const user = uniqueUser('docscookie');
    await t.http().post('/auth/register').send(user).expect(201);
    const login = await t.http().post('/auth/login').send({ email: user.email, password: user.password }).expect(200);
    expect(Object.keys(login.body as object).sort()).toEqual(Object.keys(schema.properties ?? {}).sort());
    expect(Object.keys(login.body.tokens as object).sort()).toEqual(
      Object.keys(resolve(doc, schema.properties?.tokens).properties ?? {}).sort(),
    );
  });
});
