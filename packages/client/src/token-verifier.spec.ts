import { generateKeyPairSync, sign } from 'node:crypto';
import type { AuthClientOptions } from './client-options.js';
import type { JwksKeyStore, PublicKeyEntry } from './jwks-key-store.js';
import { TokenVerifier } from './token-verifier.js';

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
  iss: ISSUER, sub: 'user-1', sid: 'session-1', iat: now(), exp: now() + 900, roles: ['user'], ...extra,
});
const without = (name: string): Record<string, unknown> => Object.fromEntries(Object.entries(claims()).filter(([k]) => k !== name));
const refused = (statusCode = 401) => ({ body: expect.objectContaining({ statusCode }) });

describe('TokenVerifier (offline)', () => {
  it('accepts a well-formed token and says who it speaks for', async () => {
    await expect(verifier().verify(token(claims({ act: { sub: 'admin-1' }, isImpersonated: true })))).resolves.toMatchObject({
      userId: 'user-1', sessionId: 'session-1', roles: ['user'], isImpersonated: true, impersonatorId: 'admin-1',
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
    await expect(verifier().verify(token(claims({ exp: now() - 31 })))).rejects.toMatchObject({ body: { statusCode: 401, message: 'access token expired' } });
    await expect(verifier().verify(token(claims({ exp: now() - 20 })))).resolves.toMatchObject({ userId: 'user-1' });
  });

  it('checks iss, and aud when configured', async () => {
    await expect(verifier().verify(token(claims({ iss: 'https://elsewhere.example' })))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims()))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims({ aud: 'billing' })))).rejects.toMatchObject(refused());
    await expect(verifier({ audience: 'orders' }).verify(token(claims({ aud: ['billing', 'orders'] })))).resolves.toMatchObject({ userId: 'user-1' });
  });

  it('refuses another typ, another algorithm than the key\'s, an unknown kid and a bad signature', async () => {
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
    await expect(verifier({ live: { transport: 'redis', url: 'redis://:hunter2@h', tls: { ca: 'CA' } } }).onModuleInit()).rejects.toThrow(/rediss:\/\//);
  });
});
