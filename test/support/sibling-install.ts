import { ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { testDataDir } from './test-app';

/**
 * Fresh sibling Nest apps outside this repository, installed with npm the way a user installs
 * @gatehouse/client (a packed tarball, or gatehouse from a git URL), built with their own tsc and
 * run as their own processes. The sources are test/fixtures/sibling-app.
 */

export const ROOT = resolve(__dirname, '../..');
const FIXTURE = join(ROOT, 'test/fixtures/sibling-app/src');
const EXIT_WITH_PARENT = join(__dirname, 'exit-with-parent.js');
const OUTPUT_LIMIT = 256 * 1024;

export type Platform = 'express' | 'fastify';

export interface CommandResult {
  code: number | null;
  output: string;
}

/**
 * The environment for npm and the apps: this process's, less what `npm test` exported about the
 * gatehouse project itself (its prefix, package and lifecycle), which would point npm back here.
 * Settings that decide how the registry is reached (registry, proxies, CA) are kept.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|https?_proxy|proxy|noproxy|no_proxy|cafile|ca|strict_ssl|userconfig|globalconfig|nodedir)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|INIT_CWD$)/i.test(key) || keep.test(key)));
}

/** Runs a command to its end; never throws (see mustRun). Output is kept, not printed. */
export function run(command: string, args: string[], cwd: string, timeoutMs = 10 * 60_000): Promise<CommandResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolvePromise({ code: -1, output: `${output}\n${error.message}` });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

export async function mustRun(command: string, args: string[], cwd: string, timeoutMs?: number): Promise<string> {
  const result = await run(command, args, cwd, timeoutMs);
  if (result.code !== 0)
    throw new Error(`\`${command} ${args.join(' ')}\` in ${cwd} exited with ${result.code}:\n${result.output.slice(-8000)}`);
  return result.output;
}

/** npm with the shared cache: each package is fetched once per run, and not at all when npm's own cache has it. */
export function npm(cache: string, args: string[], cwd: string, timeoutMs?: number): Promise<string> {
  return mustRun('npm', [...args, '--cache', cache, '--prefer-offline', '--no-audit', '--no-fund'], cwd, timeoutMs);
}

export interface Registry {
  /** npm's cache directory, shared by every install of the run. */
  cache: string;
  /**
   * The Nest 12 release the sibling apps ask for (@nestjs/core, common and both platforms): the
   * newest one unlike the server's, so the client must share the app's Nest rather than bring one.
   */
  nest: string;
  /** What the apps' package.json asks for: `^nest` as `nest new` writes it, exact when a newer release exists (the server's). */
  nestRange: string;
  microservices: string;
}

/**
 * Asks the registry for Nest 12's releases (which also freshens the cache's copy of their metadata).
 * These tests install from the registry as users do: without it they fail, saying so. The answer is
 * kept in the run's directory: the install suites of one run ask once, and install the same Nest.
 */
export async function checkRegistry(): Promise<Registry> {
  const kept = join(testDataDir(), 'install-suites-registry.json');
  if (existsSync(kept)) return JSON.parse(readFileSync(kept, 'utf8')) as Registry;
  const registry = await askRegistry();
  mkdirSync(testDataDir(), { recursive: true });
  writeFileSync(kept, JSON.stringify(registry));
  return registry;
}

async function askRegistry(): Promise<Registry> {
  const cache = process.env.CLIENT_INSTALL_NPM_CACHE || (await mustRun('npm', ['config', 'get', 'cache'], ROOT)).trim();
  const releases = async (name: string): Promise<string[]> => {
    const result = await run('npm', ['view', name, 'versions', '--json', '--cache', cache, '--prefer-online'], ROOT, 120_000);
    if (result.code !== 0) {
      throw new Error(
        `The install tests need the npm registry (they install @gatehouse/client into fresh apps with npm, as users do), ` +
          `and \`npm view ${name}\` failed:\n${result.output.slice(-2000)}`,
      );
    }
    return (JSON.parse(result.output) as string[]).filter((v) => /^12\.\d+\.\d+$/.test(v)).sort((a, b) => compareVersions(b, a));
  };
  const [core, common, express, fastify, microservices] = await Promise.all(
    ['@nestjs/core', '@nestjs/common', '@nestjs/platform-express', '@nestjs/platform-fastify', '@nestjs/microservices'].map(releases),
  );
  const server = serverVersion('@nestjs/core');
  const nest = core.find((v) => v !== server && [common, express, fastify].every((list) => list.includes(v)));
  if (!nest || !microservices.length) throw new Error(`the registry lists no Nest 12 release other than the server's ${server}`);
  return { cache, nest, nestRange: nest === core[0] ? `^${nest}` : nest, microservices: microservices[0] };
}

export function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

/** The version of a package installed in the gatehouse repository itself. */
export function serverVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface PackedClient {
  tarball: string;
  unpackedSize: number;
  files: string[];
}

/** `npm pack` of packages/client, as a release would make it (its prepack script builds it). */
export async function packClient(cache: string, destination: string): Promise<PackedClient> {
  const output = await npm(
    cache,
    ['pack', '--workspace', '@gatehouse/client', '--pack-destination', destination, '--json', '--silent'],
    ROOT,
  );
  const [packed] = JSON.parse(output.slice(output.search(/^\[/m))) as Array<{
    filename: string;
    unpackedSize: number;
    files: Array<{ path: string }>;
  }>;
  return { tarball: join(destination, packed.filename), unpackedSize: packed.unpackedSize, files: packed.files.map((f) => f.path) };
}

export interface AppManifest {
  platform: Platform;
  /** "module" as `nest new` makes apps now, or "commonjs". */
  type: 'module' | 'commonjs';
  nestRange: string;
  microservices: string;
  /** Further dependencies (name → spec), e.g. gatehouse from git. */
  extra?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  /** What the sources import the client as. */
  clientImport?: string;
}

/**
 * Writes a sibling app into `dir`: package.json asking for `nestRange`, the fixture sources (the
 * platform's own bootstrap, the client imported as `clientImport`), and a tsconfig as a Nest 12
 * project on TypeScript 6 has it.
 */
export function writeApp(dir: string, manifest: AppManifest): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  const platformPackage = `@nestjs/platform-${manifest.platform}`;
  const pkg = {
    name: `sibling-${manifest.platform}`,
    version: '0.0.0',
    private: true,
    type: manifest.type,
    dependencies: {
      '@nestjs/common': manifest.nestRange,
      '@nestjs/core': manifest.nestRange,
      '@nestjs/microservices': `^${manifest.microservices}`,
      [platformPackage]: manifest.nestRange,
      // The client's optional peer, for live mode over Redis and pushed revocations.
      ioredis: '^5.9.3',
      'reflect-metadata': '^0.2.2',
      rxjs: '^7.8.2',
      ...manifest.extra,
    },
    devDependencies: { '@types/node': '^20.19.0', typescript: serverVersion('typescript') },
    ...(manifest.allowScripts ? { allowScripts: manifest.allowScripts } : {}),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(tsconfig('nodenext'), null, 2)}\n`);
  for (const file of readdirSync(FIXTURE)) {
    if (file.startsWith('http-platform.')) continue;
    copySource(join(FIXTURE, file), join(dir, 'src', file), manifest.clientImport);
  }
  const platformFile = manifest.platform === 'express' ? 'http-platform.ts' : `http-platform.${manifest.platform}.ts`;
  copySource(join(FIXTURE, platformFile), join(dir, 'src/http-platform.ts'), manifest.clientImport);
}

function copySource(from: string, to: string, clientImport = '@gatehouse/client'): void {
  writeFileSync(to, readFileSync(from, 'utf8').replaceAll("from '@gatehouse/client'", `from '${clientImport}'`));
}

export type Resolution = 'nodenext' | 'node16' | 'bundler';

export function tsconfig(resolution: Resolution): { compilerOptions: Record<string, unknown>; include: string[] } {
  return {
    compilerOptions: {
      module: resolution === 'bundler' ? 'preserve' : resolution,
      moduleResolution: resolution,
      target: 'es2023',
      lib: ['es2023'],
      types: ['node'],
      rootDir: 'src',
      outDir: 'dist',
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      isolatedModules: true,
      esModuleInterop: true,
      strict: true,
      skipLibCheck: true,
    },
    include: ['src/**/*.ts'],
  };
}

/** `tsc --noEmit` with the app's sources under another moduleResolution; resolves to tsc's output (empty when clean). */
export async function typecheckWith(dir: string, resolution: Resolution): Promise<CommandResult> {
  const file = `tsconfig.${resolution}.json`;
  writeFileSync(join(dir, file), JSON.stringify(tsconfig(resolution), null, 2));
  return run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', file], dir);
}

/**
 * The app's build (`tsc -p tsconfig.json`, moduleResolution nodenext), resolving to tsc's output
 * (empty when clean): it emits dist/ even with type errors, so it is also the type check under nodenext.
 */
export function compile(dir: string): Promise<CommandResult> {
  return run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], dir);
}

export async function build(dir: string): Promise<void> {
  await mustRun(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], dir);
}

/** Every package directory in node_modules (scoped ones as @scope/name), nested ones included. */
export function installedPackages(nodeModules: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(join(dir, entry))) visit(join(dir, entry, scoped), `${prefix}${entry}/${scoped}`);
      } else {
        visit(join(dir, entry), `${prefix}${entry}`);
      }
    }
  };
  const visit = (dir: string, name: string): void => {
    found.push(name);
    walk(join(dir, 'node_modules'), `${name}>`);
  };
  walk(nodeModules, '');
  return found.sort();
}

/** Bytes of the files under `path` (what they hold, not the blocks they take). */
export function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

/**
 * Every copy of each package that one `npm ls` finds in the app (which fails on a missing or invalid
 * one), as its path inside the app and its version: `/node_modules/@nestjs/core@12.6.3`.
 */
export async function copiesOf(cache: string, dir: string, names: string[]): Promise<Record<string, string[]>> {
  // One line per copy: `<path>:<name>@<version>`, and `:<problem>` after it if npm sees one.
  const lines = (await npm(cache, ['ls', ...names, '--all', '--parseable', '--long'], dir)).split('\n');
  return Object.fromEntries(
    names.map((name) => {
      const copies = lines.flatMap((line) => {
        const [path, id] = line.split(':');
        return path.endsWith(`/node_modules/${name}`) && id?.startsWith(`${name}@`)
          ? [`${path.slice(dir.length)}${id.slice(name.length)}`]
          : [];
      });
      return [name, [...new Set(copies)]];
    }),
  );
}

/** What copiesOf finds when the app has one copy of each, its own, at this version. */
export function oneCopyEach(names: string[], version: string): Record<string, string[]> {
  return Object.fromEntries(names.map((name) => [name, [`/node_modules/${name}@${version}`]]));
}

export interface RunningSibling {
  output(): string;
  stop(): Promise<void>;
}

/** Starts the app's build with one guarded app per spec, resolving once all of them listen. */
export async function startSibling(dir: string, specs: unknown[]): Promise<RunningSibling> {
  const child: ChildProcess = fork(join(dir, 'dist/main.js'), [], {
    cwd: dir,
    execArgv: ['--require', EXIT_WITH_PARENT],
    env: { ...cleanEnv(), SIBLING_APPS: JSON.stringify(specs) },
    stdio: ['pipe', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error('not ready within 30 s')), 30_000);
      child.once('message', () => {
        clearTimeout(timer);
        resolvePromise();
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code ?? signal}`));
      });
    });
  } catch (error) {
    await stop();
    throw new Error(`the sibling app in ${dir} did not start: ${(error as Error).message}\n--- its output ---\n${output.slice(-8000)}`, {
      cause: error,
    });
  }
  return { output: () => output, stop };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
