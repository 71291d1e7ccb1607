import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign as rawSign } from 'node:crypto';

import { SigningKeysService } from '../../src/tokens/signing-keys.service';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';
import { b64url, decodeJwt, withTamperedSignature } from '../support/tokens';

/** Builds a compact JWS by hand, so the tests can forge what a library would refuse to produce. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, signer: (input: string) => string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${signer(input)}`;
}

describe('access tokens that must be refused', () => {
  let t: TestApp;
  let token: string;
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;

  beforeAll(async () => {
    t = await startTestApp();
    const u = uniqueUser('forge');
    await t.http().post('/auth/register').send(u).expect(201);
    const res = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    token = res.body.tokens.accessToken;
    ({ header, payload } = decodeJwt(token));
  });
  afterAll(() => t.close());

  async function expectRefused(candidate: string): Promise<void> {
    const res = await t.http().get('/auth/me').set('authorization', `Bearer ${candidate}`).expect(401);
    expect(res.body).toEqual({ statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) });
    expect(await t.rpc.tcp.fail('auth.verify', { accessToken: candidate })).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
  }

  it('accepts the genuine token (control)', async () => {
    await t.http().get('/auth/me').set('authorization', `Bearer ${token}`).expect(200);
  });

  it('refuses a tampered payload (roles raised to admin)', async () => {
    const [h, , s] = token.split('.');
    await expectRefused(`${h}.${b64url({ ...payload, roles: ['admin'] })}.${s}`);
  });

  it('refuses a tampered signature', async () => {
    await expectRefused(withTamperedSignature(token));
  });

  it('refuses alg none', async () => {
    await expectRefused(`${b64url({ ...header, alg: 'none' })}.${b64url(payload)}.`);
    await expectRefused(`${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(payload)}.`);
  });

  it('refuses HS256 signed with the published public key as the secret', async () => {
    const jwks = await t.http().get('/.well-known/jwks.json').expect(200);
    const jwk = jwks.body.keys.find((k: { kid: string }) => k.kid === header.kid);
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' });
    for (const secret of [publicKey.export({ type: 'spki', format: 'pem' }), JSON.stringify(jwk)]) {
      const forged = forge({ ...header, alg: 'HS256' }, payload, (input) => createHmac('sha256', secret).update(input).digest('base64url'));
      await expectRefused(forged);
    }
  });

  it('refuses a token signed by another key under our kid', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = forge(header, payload, (input) =>
      rawSign('sha256', Buffer.from(input), {
        key: createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })),
        dsaEncoding: 'ieee-p1363',
      }).toString('base64url'),
    );
    await expectRefused(forged);
  });

  it('refuses an unknown kid, a missing kid and a missing typ', async () => {
    const [, p, s] = token.split('.');
    await expectRefused(`${b64url({ ...header, kid: 'unknown-kid' })}.${p}.${s}`);
    const { kid: _kid, ...noKid } = header;
    await expectRefused(`${b64url(noKid)}.${p}.${s}`);
    const { typ: _typ, ...noTyp } = header;
    await expectRefused(`${b64url(noTyp)}.${p}.${s}`);
  });

  it('refuses expired tokens and tokens from another issuer, signed with the real key', async () => {
    // Sign with the service's own key through its signing service to isolate the claim checks.
    const key = t.app.get(SigningKeysService).signingKey();
    const signWithServiceKey = (claims: Record<string, unknown>): string =>
      forge(header, claims, (input) =>
        rawSign('sha256', Buffer.from(input), { key: key.signingKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
      );
    const now = Math.floor(Date.now() / 1000);
    // Control: a re-signed genuine payload passes, so the refusals below are due to the claims.
    await t
      .http()
      .get('/auth/me')
      .set('authorization', `Bearer ${signWithServiceKey(payload)}`)
      .expect(200);
    await expectRefused(signWithServiceKey({ ...payload, iat: now - 4000, exp: now - 60 }));
    await expectRefused(signWithServiceKey({ ...payload, iss: 'https://evil.example' }));
    await expectRefused(signWithServiceKey({ ...payload, nbf: now + 3600 }));
    await expectRefused(signWithServiceKey({ ...payload, sid: '00000000-0000-4000-8000-000000000000' }));
    await expectRefused(signWithServiceKey({ ...payload, sub: '00000000-0000-4000-8000-000000000000' }));
  });

  it('refuses tokens signed with the real key but lacking exp, iat or sid, even after a genuine one was seen', async () => {
    const key = t.app.get(SigningKeysService).signingKey();
    const signWithServiceKey = (claims: Record<string, unknown>): string =>
      forge(header, claims, (input) =>
        rawSign('sha256', Buffer.from(input), { key: key.signingKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
      );
    const { exp: _exp, ...noExp } = payload;
    const { iat: _iat, ...noIat } = payload;
    const { sid: _sid, ...noSid } = payload;
    for (const claims of [noExp, noIat, noSid, { ...payload, exp: String(payload.exp) }]) {
      const candidate = signWithServiceKey(claims);
      await expectRefused(candidate);
      // Twice: a refused token never reaches the cache of verified tokens.
      await expectRefused(candidate);
    }
  });
});
