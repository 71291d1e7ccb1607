import { AuthClientModule, TokenVerifier, type ClientTlsOptions } from '@gatehouse/client';
import { Test, type TestingModule } from '@nestjs/testing';

import { signedInUser } from '../support/accounts';
import { CapturingLogger } from '../support/capturing-logger';
import { startTestApp, type TestApp } from '../support/test-app';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates';

describe('gatehouse/client live mode over TCP with TLS and a client certificate (RPC_TLS_*)', () => {
  let t: TestApp | undefined;
  let certs: TestCertificates;
  const modules: TestingModule[] = [];
  const logger = new CapturingLogger();
  const TIMEOUT_MS = 10_000;

  beforeAll(async () => {
    certs = makeTestCertificates();
    t = await startTestApp({ RPC_TLS_CERT: certs.server.cert, RPC_TLS_KEY: certs.server.key, RPC_TLS_CA: certs.ca.cert, REDIS_URL: '' });
  });
  afterAll(async () => {
    for (const m of modules) await m.close();
    await t?.close();
  });

  async function verifier(tls: ClientTlsOptions | undefined): Promise<TokenVerifier> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        AuthClientModule.forRoot({
          issuer: t!.config.jwt.issuer,
          jwksUrl: `${t!.baseUrl}/.well-known/jwks.json`,
          live: { transport: 'tcp', host: '127.0.0.1', port: t!.config.rpc.port, timeoutMs: TIMEOUT_MS, ...(tls ? { tls } : {}) },
        }),
      ],
    })
      .setLogger(logger)
      .compile();
    modules.push(moduleRef);
    await moduleRef.init();
    return moduleRef.get(TokenVerifier);
  }

  it("verifies a token with gatehouse when it presents a certificate from gatehouse's CA, and sees a logout at once", async () => {
    const live = await verifier({ ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key });
    const { accessToken: token, id: userId } = await signedInUser(t!, 'rpctls');
    expect(await live.verify(token)).toMatchObject({ userId, roles: ['user'] });
    await t!
      .http()
      .post('/auth/logout')
      .set({ authorization: `Bearer ${token}` })
      .expect(204);
    await expect(live.verify(token)).rejects.toMatchObject({ body: { statusCode: 401, code: 'UNAUTHORIZED' } });
  });

  it.each([
    ['without a client certificate', () => ({ ca: certs.ca.cert })],
    ['with a client certificate from another CA', () => ({ ca: certs.ca.cert, cert: certs.stranger.cert, key: certs.stranger.key })],
    [
      "when it does not trust gatehouse's certificate",
      () => ({ ca: certs.strangerCa.cert, cert: certs.client.cert, key: certs.client.key }),
    ],
    ['over plain TCP', () => undefined],
  ])('fails cleanly %s: 503, as soon as the connection is refused (not at the timeout)', async (_case, tls) => {
    const live = await verifier(tls());
    const { accessToken: token } = await signedInUser(t!, 'rpctls');
    const started = Date.now();
    await expect(live.verify(token)).rejects.toMatchObject({ body: { statusCode: 503, code: 'SERVICE_UNAVAILABLE' } });
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS / 2);
  });
});
