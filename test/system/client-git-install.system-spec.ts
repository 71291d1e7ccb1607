import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import {
  build,
  checkRegistry,
  copiesOf,
  mustRun,
  npm,
  oneCopyEach,
  removeDir,
  ROOT,
  startSibling,
  writeApp,
  type Registry,
  type RunningSibling,
} from '../support/sibling-install';
import { freePort, rpcFailure, startTestApp, uniqueUser, type TestApp } from '../support/test-app';

/**
 * `npm install git+<gatehouse repository>` into a fresh Nest app on a newer Nest than the server
 * uses: npm clones it, installs its dependencies and runs its `prepare` (the build), then installs
 * the package; the app imports `gatehouse/client`. The repository is a clone of this one at HEAD
 * (so uncommitted changes are not in it; CLIENT_INSTALL_GIT_SOURCE names another repository).
 */
describe('gatehouse installed from a git URL: gatehouse/client in a fresh Nest app', () => {
  let registry: Registry;
  let work: string;
  let dir: string;
  let installOutput: string;
  let g: TestApp;
  let sibling: RunningSibling | undefined;
  let rpc: ClientProxy | undefined;
  let http: () => ReturnType<typeof request>;

  beforeAll(async () => {
    registry = await checkRegistry();
    work = mkdtempSync(join(tmpdir(), 'gatehouse-git-install-'));
    const repo = join(work, 'gatehouse.git');
    await mustRun('git', ['clone', '--quiet', '--depth', '1', `file://${process.env.CLIENT_INSTALL_GIT_SOURCE || ROOT}`, repo], work);
    const url = `git+file://${repo}`;
    dir = join(work, 'app');
    writeApp(dir, {
      platform: 'express',
      type: 'module',
      nestRange: registry.nestRange,
      microservices: registry.microservices,
      extra: { gatehouse: url },
      // As packages/client/README.md tells git users: gatehouse's build reviewed, swagger-ui's telemetry refused.
      allowScripts: { [url]: true, '@scarf/scarf': false },
      clientImport: 'gatehouse/client',
    });
    installOutput = await npm(registry.cache, ['install'], dir, 12 * 60_000);
    await build(dir);
    g = await startTestApp();
    const [httpPort, tcpPort] = [await freePort(), await freePort()];
    const auth = { issuer: g.config.jwt.issuer, jwksUrl: `${g.baseUrl}/.well-known/jwks.json` };
    sibling = await startSibling(dir, [{ name: 'offline', httpPort, tcpPort, auth }]);
    http = () => request(`http://127.0.0.1:${httpPort}`);
    rpc = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } });
    await rpc.connect();
  }, 15 * 60_000);

  afterAll(async () => {
    await rpc?.close();
    await sibling?.stop();
    await g?.close();
    if (work) removeDir(work);
  });

  it('builds the client on install, with no install script left unreviewed', () => {
    expect(existsSync(join(dir, 'node_modules/gatehouse/packages/client/dist/index.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/gatehouse/packages/client/dist/index.d.ts'))).toBe(true);
    expect(installOutput.split('\n').filter((line) => /install-scripts/.test(line))).toEqual([]);
  });

  it("uses the app's Nest: one copy of @nestjs/core and @nestjs/common", async () => {
    const nest = ['@nestjs/core', '@nestjs/common'];
    expect(await copiesOf(registry.cache, dir, nest)).toEqual(oneCopyEach(nest, registry.nest));
  });

  it('guards HTTP routes and TCP message patterns with gatehouse/client', async () => {
    const u = uniqueUser('gitinstall');
    await g.http().post('/auth/register').send(u).expect(201);
    const res = await g.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200);
    const [token, userId] = [res.body.tokens.accessToken as string, res.body.user.id as string];
    const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) };
    const send = <T>(pattern: string, payload: unknown): Promise<T> => firstValueFrom(rpc!.send<T>(pattern, payload));
    expect(
      (
        await http()
          .get('/orders')
          .set({ authorization: `Bearer ${token}` })
          .expect(200)
      ).body,
    ).toEqual({ userId });
    expect((await http().get('/orders').expect(401)).body).toEqual(UNAUTHORIZED);
    expect(await send('orders.list', { accessToken: token })).toEqual({ userId });
    expect(await rpcFailure(send, 'orders.list', {})).toEqual(UNAUTHORIZED);
    await http().get('/health').expect(200);
  });
});
