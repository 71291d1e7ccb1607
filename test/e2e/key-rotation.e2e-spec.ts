import { runKeysCommand } from '../../src/cli/keys';
import { registerUser, signIn } from '../support/accounts';
import { startTestApp, TestApp, testDatabaseUrl, uniqueUser } from '../support/test-app';
import { decodeJwt } from '../support/tokens';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('signing-key rotation without restarts', () => {
  let t: TestApp;
  const u = uniqueUser('rotation');
  const env = { DATABASE_URL: '', NODE_ENV: 'test' };

  beforeAll(async () => {
    t = await startTestApp();
    env.DATABASE_URL = testDatabaseUrl();
    await registerUser(t, u);
  });
  afterAll(() => t.close());

  const kids = async (): Promise<string[]> =>
    (await t.http().get('/.well-known/jwks.json').expect(200)).body.keys.map((k: { kid: string }) => k.kid);
  async function until(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100; i += 1) {
      if (await check()) return;
      await sleep(20);
    }
    throw new Error('condition not met within 2 s');
  }

  it('rotates: the new key signs at once, the old one still verifies; retiring it refuses its tokens at once', async () => {
    const oldToken = (await signIn(t, u)).accessToken;
    const oldKid = decodeJwt(oldToken).header.kid as string;
    await t.http().get('/auth/me').set('authorization', `Bearer ${oldToken}`).expect(200); // now in the verified-token cache

    const rotated = await runKeysCommand(['rotate'], env);
    const newKid = /new ES256 signing key (\S+);/.exec(rotated)?.[1];
    expect(rotated).toContain(`${oldKid} still verifies until retired`);
    await until(async () => (await kids()).includes(newKid!));
    expect(await kids()).toEqual(expect.arrayContaining([oldKid, newKid]));

    const newToken = (await signIn(t, u)).accessToken;
    expect(decodeJwt(newToken).header.kid).toBe(newKid);
    await t.http().get('/auth/me').set('authorization', `Bearer ${oldToken}`).expect(200);
    await t.http().get('/auth/me').set('authorization', `Bearer ${newToken}`).expect(200);

    // Not yet: tokens signed by the old key may still be alive.
    expect(await runKeysCommand(['retire'], env)).toBe('no key to retire');
    expect(await runKeysCommand(['retire', '--kid', oldKid], env)).toBe(`retired ${oldKid}`);
    await until(async () => !(await kids()).includes(oldKid));
    await t.http().get('/auth/me').set('authorization', `Bearer ${oldToken}`).expect(401);
    expect(await t.rpc.tcp.fail('auth.verify', { accessToken: oldToken })).toMatchObject({ code: 'UNAUTHORIZED' });
    await t.http().get('/auth/me').set('authorization', `Bearer ${newToken}`).expect(200);
  });

  it('retires by age only keys superseded longer ago than the access-token lifetime', async () => {
    const before = await kids();
    await runKeysCommand(['rotate'], env);
    expect(await runKeysCommand(['retire', '--min-age', '3600'], env)).toBe('no key to retire');
    const retired = await runKeysCommand(['retire', '--min-age', '0'], env);
    expect(retired).toMatch(/^retired /);
    await until(async () => (await kids()).length === 1);
    expect(before).not.toEqual(await kids());
  });

  it('refuses bad usage and a configuration without generated keys', async () => {
    await expect(runKeysCommand(['bogus'], env)).rejects.toThrow(/usage: npm run keys/);
    await expect(runKeysCommand(['retire', '--min-age', 'soon'], env)).rejects.toThrow(/usage/);
    await expect(runKeysCommand(['rotate'], { NODE_ENV: 'test' })).rejects.toThrow(/DATABASE_URL must be set/);
    await expect(runKeysCommand(['rotate'], { ...env, JWT_ALGORITHM: 'HS256', JWT_SECRET: 'x'.repeat(40) })).rejects.toThrow(
      /secret store/,
    );
  });
});
