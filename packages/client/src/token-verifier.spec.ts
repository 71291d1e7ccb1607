import { generateKeyPairSync, sign } from 'node:crypto';
import { Logger } from '@nestjs/common';

import type { AuthClientOptions } from './client-options.js';
import type { JwksKeyStore, PublicKeyEntry } from './jwks-key-store.js';
import { REFUSAL_REASONS, type Refusal, type RefusalReason } from './refusals.js';
import { TokenVerifier } from './token-verifier.js';

// Refusals are logged at debug level: kept off the test output, and read where they are the subject.
let debug: jest.SpyInstance;
beforeEach(() => {
  debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
});
afterEach(() => debug.mockRestore());

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KEY: PublicKeyEntry = { kid: 'k1', alg: 'ES256', key: publicKey };
const ISSUER = 'https://gatehouse.example';
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function token(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function verifier(options: Partial<AuthClientOptions> = {}, keys: PublicKeyEntry[] = [KEY]): TokenVerifier {
  const store = {
    get: (kid: string) => Promise.resolve(keys.find((k) => k.kid === kid)),
    hasKeys: keys.length > 0,
    isCurrent: (kid: string) => keys.some((k) => k.kid === kid),
  } as unknown as JwksKeyStore;
  return new TokenVerifier({ issuer: ISSUER, jwksUrl: 'unused', ...options }, store);
}

const now = (): number => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  sub: 'user-1',
  sid: 'session-1',
  iat: now(),
  exp: now() + 900,
  roles: ['user'],
  ...extra,
});
const without = (name: string): Record<string, unknown> => Object.fromEntries(Object.entries(claims()).filter(([k]) => k !== name));
const refused = (statusCode = 401) => ({ body: expect.objectContaining({ statusCode }) });

describe('TokenVerifier (offline)', () => {
  it('accepts a well-formed token and says who it speaks for', async () => {
    await expect(verifier().verify(token(claims({ act: { sub: 'admin-1' }, isImpersonated: true })))).resolves.toMatchObject({
      userId: 'user-1',
      sessionId: 'session-1',
      roles: ['user'],
      isImpersonated: true,
      impersonatorId: 'admin-1',
    });
  });

  it.each(['exp', 'iat', 'sid', 'sub'])('refuses a token without %s', async (name) => {
    await expect(verifier().verify(token(without(name)))).rejects.toMatchObject(refused());
  });

  it.each([
    ['iat as a string', { iat: String(now()) }],
    ['exp as a string', { exp: String(now() + 900) }],
    ['an empty sid', { sid: '' }],
    ['an empty sub', { sub: '' }],
    ['nbf that is not a number', { nbf: 'soon' }],
  ])('refuses %s', async (_case, extra) => {
    await expect(verifier().verify(token(claims(extra)))).rejects.toMatchObject(refused());
  });

  it('refuses nbf in the future beyond the leeway, and accepts it within', async () => {
    await expect(verifier().verify(token(claims({ nbf: now() + 31 })))).rejects.toMatchObject(refused());
    await expect(verifier().verify(token(claims({ nbf: now() + 20 })))).resolves.toMatchObject({ userId: 'user-1' });
    await expect(verifier({ clockTolerance: 0 }).verify(token(claims({ nbf: now() + 5 })))).rejects.toMatchObject(refused());
  });

  it('refuses exp in the past beyond the leeway, and accepts it within', async () => {
    await expect(verifier().verify(token(claims({ exp: now() - 31 })))).rejects.toMatchObject({
      body: { statusCode: 401, message: 'access token expired' },
    });
    await expect(verifier().verify(token(claims({ exp: now() - 20 })))).resolves.toMatchObject({ userId: 'user-1' });
  });

  it('checks iss, and aud when configured', async () => {
    await expect(verifier().verify(token(claims({ iss: 'https://elsewhere.example' })))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims()))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims({ aud: 'billing' })))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims({ aud: ['billing', 'orders'] })))).resolves.toMatchObject({
      userId: 'user-1',
    });
  });

  it("refuses another typ, another algorithm than the key's, an unknown kid and a bad signature", async () => {
    await expect(verifier().verify(token(claims(), { typ: 'JWT' }))).rejects.toMatchObject(refused());
    await expect(verifier().verify(token(claims(), { alg: 'RS256' }))).rejects.toMatchObject(refused());
    await expect(verifier().verify(token(claims(), { kid: 'k2' }))).rejects.toMatchObject(refused());
    const [h, p, s] = token(claims()).split('.');
    await expect(verifier().verify(`${h}.${p}.${(s[0] === 'A' ? 'B' : 'A') + s.slice(1)}`)).rejects.toMatchObject(refused());
  });

  it('answers 503 while it has no keys at all', async () => {
    await expect(verifier({}, []).verify(token(claims()))).rejects.toMatchObject(refused(503));
  });
});

describe('TokenVerifier connection settings', () => {
  it('refuses a bad Redis URL at start, before fetching keys, without repeating the password', async () => {
    const v = verifier({ revocations: { redisUrl: 'redis://:hunter2@h/x' } });
    await expect(v.onModuleInit()).rejects.toThrow(/database index/);
    await expect(verifier({ live: { transport: 'redis', url: 'redis://:hunter2@h', tls: { ca: 'CA' } } }).onModuleInit()).rejects.toThrow(
      /rediss:\/\//,
    );
  });
});

describe('TokenVerifier refusals: one message per reason, counted and logged for operators', () => {
  const refusalOf = async (v: TokenVerifier, t: string | undefined): Promise<{ reason?: RefusalReason; body: unknown }> =>
    v.verify(t).then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: { reason?: RefusalReason; body: unknown }) => ({ reason: error.reason, body: error.body }),
    );
  const body = (statusCode: number, code: string, message: string) => ({ statusCode, code, message });
  const [h, p, s] = token(claims()).split('.');

  it.each<[string, RefusalReason, () => string | undefined, ReturnType<typeof body>]>([
    ['no token', 'missing', () => undefined, body(401, 'UNAUTHORIZED', 'authentication required')],
    ['two parts', 'malformed', () => `${h}.${p}`, body(401, 'UNAUTHORIZED', 'invalid access token')],
    ['a header that is not JSON', 'malformed', () => `bm90IGpzb24.${p}.${s}`, body(401, 'UNAUTHORIZED', 'invalid access token')],
    ['typ JWT', 'type', () => token(claims(), { typ: 'JWT' }), body(401, 'UNAUTHORIZED', 'invalid access token')],
    [
      'another issuer',
      'issuer',
      () => token(claims({ iss: 'https://elsewhere.example' })),
      body(401, 'UNAUTHORIZED', 'invalid access token'),
    ],
    ['no sid', 'claims', () => token(without('sid')), body(401, 'UNAUTHORIZED', 'invalid access token')],
    ['an expired token', 'expired', () => token(claims({ exp: now() - 60 })), body(401, 'UNAUTHORIZED', 'access token expired')],
    ['nbf in the future', 'notYetValid', () => token(claims({ nbf: now() + 120 })), body(401, 'UNAUTHORIZED', 'invalid access token')],
    ['an unknown kid', 'kid', () => token(claims(), { kid: 'k9' }), body(401, 'UNAUTHORIZED', 'invalid access token')],
    ['another algorithm', 'algorithm', () => token(claims(), { alg: 'RS256' }), body(401, 'UNAUTHORIZED', 'invalid access token')],
    [
      'a bad signature',
      'signature',
      () => `${h}.${p}.${(s[0] === 'A' ? 'B' : 'A') + s.slice(1)}`,
      body(401, 'UNAUTHORIZED', 'invalid access token'),
    ],
  ])('%s: reason %s', async (_case, reason, make, expected) => {
    const v = verifier();
    expect(await refusalOf(v, make())).toEqual({ reason, body: expected });
    expect(v.refusals()).toEqual({ ...Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])), [reason]: 1 });
  });

  it('a revoked session: "session revoked", counted as revoked', async () => {
    const v = verifier({ revocations: { redisUrl: 'redis://unused' } });
    const t = token(claims());
    await expect(v.verify(t)).resolves.toMatchObject({ sessionId: 'session-1' });
    (v as unknown as { onEvent(message: string): void }).onEvent(JSON.stringify({ type: 'session.revoked', sessionId: 'session-1' }));
    expect(await refusalOf(v, t)).toEqual({ reason: 'revoked', body: body(401, 'UNAUTHORIZED', 'session revoked') });
    expect(v.refusals().revoked).toBe(1);
  });

  it('no key set: 503 "gatehouse unreachable"', async () => {
    expect(await refusalOf(verifier({}, []), token(claims()))).toEqual({
      reason: 'unavailable',
      body: body(503, 'SERVICE_UNAVAILABLE', 'gatehouse unreachable'),
    });
  });

  it('a token from another issuer is logged at debug level with the expected and actual issuer, never the token, and told to onRefusal', async () => {
    const seen: Refusal[] = [];
    const v = verifier({ onRefusal: (r) => seen.push(r) });
    const t = token(claims({ iss: 'https://staging.gatehouse.example' }));
    await v.verify(t).catch(() => undefined);
    await v.verify(t).catch(() => undefined);
    const expected = `expected issuer "${ISSUER}", the token has "https://staging.gatehouse.example"`;
    expect(debug.mock.calls.map((call) => call[0] as string)).toEqual([`refused (issuer): ${expected}`, `refused (issuer): ${expected}`]);
    expect(v.refusals().issuer).toBe(2);
    expect(seen).toEqual([
      { reason: 'issuer', body: body(401, 'UNAUTHORIZED', 'invalid access token'), detail: expected },
      { reason: 'issuer', body: body(401, 'UNAUTHORIZED', 'invalid access token'), detail: expected },
    ]);
    for (const [line] of debug.mock.calls as string[][]) expect(line).not.toContain(t.split('.')[2]);
  });

  it('names the expected and actual audience, and cuts a long claim short', async () => {
    const v = verifier({ audience: 'orders' });
    await v.verify(token(claims({ aud: ['billing', 'x'.repeat(500)] }))).catch(() => undefined);
    const [line] = debug.mock.calls[0] as string[];
    expect(line).toMatch(/^refused \(audience\): expected audience "orders", the token has \["billing","x+…$/);
    expect(line.length).toBeLessThan(250);
  });

  it('keeps answering when onRefusal throws', async () => {
    const v = verifier({
      onRefusal: () => {
        throw new Error('metrics down');
      },
    });
    expect(await refusalOf(v, 'garbage')).toEqual({ reason: 'malformed', body: body(401, 'UNAUTHORIZED', 'invalid access token') });
  });
});
