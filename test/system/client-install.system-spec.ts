import { existsSync, lstatSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import request from 'supertest';

import { signedInUser, signIn } from '../support/accounts';
import { TEST_REDIS_URL } from '../support/services';
import {
  checkRegistry,
  compile,
  copiesOf,
  installedPackages,
  mustRun,
  npm,
  oneCopyEach,
  packClient,
  removeDir,
  ROOT,
  serverVersion,
  sizeOf,
  startSibling,
  typecheckWith,
  writeApp,
  type CommandResult,
  type PackedClient,
  type Platform,
  type Registry,
  type Resolution,
  type RunningSibling,
} from '../support/sibling-install';
import { freePort, rpcFailure, startTestApp, type TestApp } from '../support/test-app';

const MAX_CLIENT_BYTES = 5 * 1024 * 1024;
const MODES = ['offline', 'live', 'pushed'] as const;
type Mode = (typeof MODES)[number];
// What the server needs and a sibling must never get from the client.
const SERVER_ONLY = [
  'typeorm',
  '@nestjs/typeorm',
  'pg',
  '@node-rs/argon2',
  '@node-rs/bcrypt',
  'fastify',
  'pino',
  'nestjs-pino',
  '@electric-sql/pglite',
  'swagger-ui-dist',
  '@scarf/scarf',
  'passport',
  'jsonwebtoken',
  'nodemailer',
];

interface Endpoint {
  http: () => ReturnType<typeof request>;
  rpc: ClientProxy;
}

interface SiblingApp {
  platform: Platform;
  dir: string;
  before: string[];
  after: string[];
  installOutput: string;
  /** The build's tsc run: the type check under nodenext. */
  built: CommandResult;
  process?: RunningSibling;
  modes: Record<Mode, Endpoint>;
}

describe('@gatehouse/client installed from its tarball into fresh Nest apps', () => {
  let registry: Registry;
  let work: string;
  let packed: PackedClient;
  let g: TestApp;
  const apps = {} as Record<Platform, SiblingApp>;
  const admin = { email: `install-admin-${process.pid}-${Date.now()}@example.com`, password: 'admin password of good length' };

  async function install(platform: Platform, type: 'module' | 'commonjs'): Promise<SiblingApp> {
    const dir = join(work, platform);
    writeApp(dir, { platform, type, nestRange: registry.nestRange, microservices: registry.microservices });
    await npm(registry.cache, ['install'], dir);
    const before = installedPackages(join(dir, 'node_modules'));
    // As a user adds it to an app that already runs: `npm install <tarball>`.
    const installOutput = await npm(registry.cache, ['install', packed.tarball], dir);
    const after = installedPackages(join(dir, 'node_modules'));
    writeSubpathProbe(dir);
    const built = await compile(dir);
    if (!existsSync(join(dir, 'dist/main.js'))) throw new Error(`the ${platform} app did not build:\n${built.output.slice(-8000)}`);
    return { platform, dir, before, after, installOutput, built, modes: {} as Record<Mode, Endpoint> };
  }

  /** Adds a source importing each subpath export of the installed client (./testing): its types must resolve too. */
  function writeSubpathProbe(dir: string): void {
    const subpaths = Object.keys(
      JSON.parse(readFileSync(join(dir, 'node_modules/@gatehouse/client/package.json'), 'utf8')).exports as object,
    ).filter((key) => key !== '.' && key !== './package.json');
    const probe = subpaths
      .map((key, i) => `import * as subpath${i} from '@gatehouse/client/${key.slice(2)}';\nexport const probe${i} = subpath${i};\n`)
      .join('');
    if (probe) writeFileSync(join(dir, 'src/subpaths.ts'), probe);
  }

  async function boot(app: SiblingApp): Promise<void> {
    const auth = { issuer: g.config.jwt.issuer, jwksUrl: `${g.baseUrl}/.well-known/jwks.json` };
    const extra: Record<Mode, object> = {
      offline: {},
      live: { live: { transport: 'tcp', host: '127.0.0.1', port: g.config.rpc.port } },
      pushed: { revocations: { redisUrl: TEST_REDIS_URL, prefix: g.config.redis!.prefix } },
    };
    const specs = [];
    for (const name of MODES) {
      const [httpPort, tcpPort] = [await freePort(), await freePort()];
      specs.push({ name, httpPort, tcpPort, auth: { ...auth, ...extra[name] } });
      const rpc = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port: tcpPort } });
      app.modes[name] = { http: () => request(`http://127.0.0.1:${httpPort}`), rpc };
    }
    app.process = await startSibling(app.dir, specs);
    await Promise.all(MODES.map((name) => app.modes[name].rpc.connect()));
  }

  beforeAll(async () => {
    registry = await checkRegistry();
    work = mkdtempSync(join(tmpdir(), 'gatehouse-client-install-'));
    packed = await packClient(registry.cache, work);
    // ESM with nodenext, as `nest new` makes an app now; and a CommonJS one, as older apps are.
    [apps.express, apps.fastify] = await Promise.all([install('express', 'module'), install('fastify', 'commonjs')]);
    g = await startTestApp({ BOOTSTRAP_ADMIN_EMAIL: admin.email, BOOTSTRAP_ADMIN_PASSWORD: admin.password });
    await boot(apps.express);
    await boot(apps.fastify);
  }, 15 * 60_000);

  afterAll(async () => {
    for (const app of Object.values(apps)) {
      await Promise.all(Object.values(app.modes).map((mode) => mode.rpc.close()));
      await app.process?.stop();
    }
    await g?.close();
    if (work) removeDir(work);
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const call = <T>(endpoint: Endpoint, pattern: string, payload: unknown): Promise<T> =>
    firstValueFrom(endpoint.rpc.send<T>(pattern, payload));
  const fail = (endpoint: Endpoint, pattern: string, payload: unknown) => rpcFailure((p, d) => call(endpoint, p, d), pattern, payload);
  const UNAUTHORIZED = { statusCode: 401, code: 'UNAUTHORIZED', message: expect.any(String) };

  it('is packed small, with its README and typings and without specs', () => {
    expect(packed.unpackedSize).toBeLessThan(MAX_CLIENT_BYTES);
    expect(packed.files).toEqual(expect.arrayContaining(['README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(packed.files.filter((f) => /\.spec\.|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('asks for another Nest than the server uses (the newest Nest 12)', () => {
    expect(registry.nest).not.toBe(serverVersion('@nestjs/core'));
  });

  describe.each(['express', 'fastify'] as const)('on %s', (platform) => {
    it("installs beside the app's Nest without a second copy, adding only itself, under 5 MB", async () => {
      const app = apps[platform];
      const nest = ['@nestjs/core', '@nestjs/common'];
      expect(await copiesOf(registry.cache, app.dir, nest)).toEqual(oneCopyEach(nest, registry.nest));
      expect(app.after.filter((p) => !app.before.includes(p))).toEqual(['@gatehouse/client']);
      expect(app.before.filter((p) => !app.after.includes(p))).toEqual([]);
      expect(sizeOf(join(app.dir, 'node_modules/@gatehouse/client'))).toBeLessThan(MAX_CLIENT_BYTES);
      if (platform === 'express') expect(app.after.filter((p) => SERVER_ONLY.includes(p.split('>').pop()!))).toEqual([]);
      // Nothing for the user to review: no install scripts, no warnings about the client.
      expect(app.installOutput.split('\n').filter((line) => /install-scripts|gatehouse/i.test(line) && /warn|ERR/i.test(line))).toEqual([]);
    });

    it('guards HTTP routes and TCP message patterns offline, and serves @Public() routes', async () => {
      const { offline } = apps[platform].modes;
      const { accessToken: token, id: userId } = await signedInUser(g, 'installed');
      expect((await offline.http().get('/orders').set(bearer(token)).expect(200)).body).toEqual({ userId });
      expect(await call(offline, 'orders.list', { accessToken: token })).toEqual({ userId });
      expect((await offline.http().get('/orders').expect(401)).body).toEqual(UNAUTHORIZED);
      expect(
        (
          await offline
            .http()
            .get('/orders')
            .set(bearer(`${token}x`))
            .expect(401)
        ).body,
      ).toEqual(UNAUTHORIZED);
      expect(await fail(offline, 'orders.list', {})).toEqual(UNAUTHORIZED);
      expect(await fail(offline, 'orders.list', { accessToken: `${token}x` })).toEqual(UNAUTHORIZED);
      expect((await offline.http().get('/health').expect(200)).body).toEqual({ status: 'ok' });
    });

    it('enforces roles over HTTP and TCP', async () => {
      const { offline } = apps[platform].modes;
      const member = await signedInUser(g, 'installed');
      const boss = await signIn(g, admin);
      expect((await offline.http().get('/admin/report').set(bearer(member.accessToken)).expect(403)).body).toEqual({
        statusCode: 403,
        code: 'FORBIDDEN',
        message: expect.any(String),
      });
      expect(await fail(offline, 'orders.purge', { accessToken: member.accessToken })).toMatchObject({
        statusCode: 403,
        code: 'FORBIDDEN',
      });
      expect((await offline.http().get('/admin/report').set(bearer(boss.accessToken)).expect(200)).body).toEqual({ reportBy: boss.id });
      expect(await call(offline, 'orders.purge', { accessToken: boss.accessToken })).toEqual({ purgedBy: boss.id });
    });

    it("refuses a password sign-in an aal-2 handler with gatehouse's MFA_REQUIRED body, over HTTP and TCP, in every mode", async () => {
      const { accessToken } = await signedInUser(g, 'installed');
      const MFA_REQUIRED = { statusCode: 403, code: 'MFA_REQUIRED', message: 'a second factor is required' };
      for (const mode of Object.values(apps[platform].modes)) {
        expect((await mode.http().get('/orders/export').set(bearer(accessToken)).expect(403)).body).toEqual(MFA_REQUIRED);
        expect(await fail(mode, 'orders.export', { accessToken })).toEqual(MFA_REQUIRED);
      }
    });

    it('after a logout: refused at once live (TCP to gatehouse), within moments with pushed revocations (Redis), over HTTP and TCP', async () => {
      const { offline, live, pushed } = apps[platform].modes;
      const { accessToken: token, id: userId } = await signedInUser(g, 'installed');
      for (const mode of [offline, live, pushed]) {
        expect((await mode.http().get('/orders').set(bearer(token)).expect(200)).body).toEqual({ userId });
        expect(await call(mode, 'orders.list', { accessToken: token })).toEqual({ userId });
      }
      await g.http().post('/auth/logout').set(bearer(token)).expect(204);
      expect((await live.http().get('/orders').set(bearer(token)).expect(401)).body).toEqual(UNAUTHORIZED);
      expect(await fail(live, 'orders.list', { accessToken: token })).toEqual(UNAUTHORIZED);
      let refused = false;
      for (let i = 0; i < 100 && !refused; i += 1) {
        refused = (await pushed.http().get('/orders').set(bearer(token))).status === 401;
        if (!refused) await new Promise((r) => setTimeout(r, 20));
      }
      expect(refused).toBe(true);
      expect(await fail(pushed, 'orders.list', { accessToken: token })).toEqual(UNAUTHORIZED);
      // Offline mode trusts the token until it expires: its documented trade-off.
      expect(await call(offline, 'orders.list', { accessToken: token })).toEqual({ userId });
    });

    // Nest 12 is ESM-only, which node16 cannot require() (TS1479 on @nestjs/common itself): the
    // CommonJS app is checked under nodenext and bundler, the ESM one under all three.
    const resolutions: Resolution[] = platform === 'express' ? ['nodenext', 'node16', 'bundler'] : ['nodenext', 'bundler'];

    it(`types resolve under moduleResolution ${resolutions.join(', ')}`, async () => {
      const { dir, built } = apps[platform];
      // The app's build is nodenext: its sources and the subpath probe were checked under it then.
      const others = await Promise.all(
        resolutions.filter((r) => r !== 'nodenext').map(async (resolution) => ({ resolution, ...(await typecheckWith(dir, resolution)) })),
      );
      for (const { resolution, code, output } of [{ resolution: 'nodenext', ...built }, ...others])
        expect({ resolution, code, output: output.trim() }).toEqual({ resolution, code: 0, output: '' });
    });

    it('started without a warning', () => {
      // The sibling logs errors and warnings only (Node's own ExperimentalWarning for require(esm) aside).
      const lines = apps[platform]
        .process!.output()
        .split('\n')
        .filter((line) => line.trim() && !/ExperimentalWarning|--trace-warnings/.test(line));
      expect(lines).toEqual([]);
    });
  });

  it("installs from a folder with --install-links: a copy that uses the app's Nest (a link would load the checkout's)", async () => {
    const { dir } = apps.express;
    const output = await npm(registry.cache, ['install', '--install-links', join(ROOT, 'packages/client')], dir);
    expect(lstatSync(join(dir, 'node_modules/@gatehouse/client')).isSymbolicLink()).toBe(false);
    expect(await copiesOf(registry.cache, dir, ['@nestjs/core'])).toEqual(oneCopyEach(['@nestjs/core'], registry.nest));
    const loaded = await mustRun(
      process.execPath,
      ['--input-type=module', '-e', "const c = await import('@gatehouse/client'); console.log(typeof c.AuthClientModule.forRoot)"],
      dir,
    );
    expect(loaded.trim()).toBe('function');
    expect(output.split('\n').filter((line) => /install-scripts/.test(line))).toEqual([]);
  });
});
