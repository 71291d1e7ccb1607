import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';

import { freePort, testDataDir } from './test-app';

/**
 * PostgreSQL and Redis servers that a fault test starts, stops, pauses and restarts itself, on free
 * ports and in temporary directories: the machine's shared servers are never touched. A missing
 * binary fails the suite with a message saying what to install or which variable to set.
 */

const PG_BINDIR_VAR = 'GATEHOUSE_TEST_PG_BINDIR';
const REDIS_SERVER_VAR = 'GATEHOUSE_TEST_REDIS_SERVER';
const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** initdb and postgres: from GATEHOUSE_TEST_PG_BINDIR, else PATH, else `pg_config --bindir`. */
function postgresBinaries(): { initdb: string; postgres: string } {
  const configured = process.env[PG_BINDIR_VAR];
  const dirs: string[] = [];
  if (configured) {
    dirs.push(configured);
  } else {
    const initdb = onPath('initdb');
    const postgres = onPath('postgres');
    if (initdb && postgres) return { initdb, postgres };
    try {
      dirs.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    } catch {
      // no pg_config either: reported below
    }
  }
  for (const dir of dirs) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (isExecutable(initdb) && isExecutable(postgres)) return { initdb, postgres };
  }
  throw new Error(
    'The fault tests start their own PostgreSQL server and need its `initdb` and `postgres` programs, ' +
      (configured ? `which are not in ${PG_BINDIR_VAR}=${configured}.` : 'which are neither on PATH nor in `pg_config --bindir`.') +
      ` Install the PostgreSQL server (e.g. the postgresql package) or set ${PG_BINDIR_VAR} to the directory holding them.`,
  );
}

function redisServerBinary(): string {
  const configured = process.env[REDIS_SERVER_VAR];
  const found = configured ? (isExecutable(configured) ? configured : undefined) : onPath('redis-server');
  if (found) return found;
  throw new Error(
    'The fault tests start their own Redis server and need the `redis-server` program, ' +
      (configured ? `which is not at ${REDIS_SERVER_VAR}=${configured}.` : 'which is not on PATH.') +
      ` Install Redis (e.g. the redis-server package) or set ${REDIS_SERVER_VAR} to its path.`,
  );
}

interface RunAs {
  uid: number;
  gid: number;
  /** Prefix that runs a program as that user, replacing itself (so the pid is the program's). */
  prefix: string[];
}

/** PostgreSQL refuses to run as root: then it runs as the `postgres` OS user. */
function postgresUser(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error('The fault tests run as root, and PostgreSQL refuses to run as root: they need a `postgres` OS user to run it as.');
  }
  const setpriv = onPath('setpriv');
  if (!setpriv) throw new Error('The fault tests run as root and need `setpriv` (util-linux) to start PostgreSQL as the `postgres` user.');
  return { uid, gid, prefix: [setpriv, `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'] };
}

/** The pids of a process's children, grandchildren and so on (from /proc). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended meanwhile
    }
  }
  const found: number[] = [];
  const visit = (p: number): void => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** Every server started here, killed if the test process ends without cleaning up. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Run beside each server: once the test process is gone, however it went (Ctrl-C and kills skip its
 * 'exit' handlers), the pipe from it closes, and this kills the server's process group and removes
 * its directory. It is in a process group of its own, so the Ctrl-C does not reach it.
 */
const WATCHDOG = `
const [pgid, dir] = process.argv.slice(1);
const end = () => {
  if (Number(pgid) > 0) try { process.kill(-Number(pgid), 'SIGKILL'); } catch {}
  setTimeout(() => {
    try { require('node:fs').rmSync(dir, { recursive: true, force: true }); } catch {}
    process.exit(0);
  }, 500);
};
process.stdin.on('end', end);
process.stdin.on('error', end);
process.stdin.resume();
`;

/** Starts a watchdog that removes `dir`, after killing the process group `pgid` if given, once the test process is gone. */
function watchdog(dir: string, pgid = 0): ChildProcess {
  const watcher = spawn(process.execPath, ['-e', WATCHDOG, String(pgid), dir], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  // It does not keep the test process alive.
  watcher.unref();
  (watcher.stdin as unknown as { unref(): void } | null)?.unref();
  return watcher;
}

/** A server process in its own process group, so a pause or a kill reaches all of its processes. */
class ServerProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private output = '';

  constructor(private readonly name: string) {}

  get started(): boolean {
    return this.child !== undefined;
  }

  /** Starts the server; `dir` (its files) is removed if the test process dies without cleaning up. */
  spawn(command: string[], dir: string): void {
    this.output = '';
    const child = spawn(command[0], command.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const watcher = child.pid === undefined ? undefined : watchdog(dir, child.pid);
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      // Stopped by the test: the watchdog has nothing left to do (and must not kill a reused group id).
      watcher?.kill('SIGKILL');
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    running.add(child);
    this.child = child;
  }

  /** Waits until `ready()` holds, failing with the server's own output if it exits or takes too long. */
  async waitUntil(ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      if (!this.child) throw new Error(`${this.name} exited while starting:\n${this.output}`);
      if (await ready()) return;
      if (Date.now() > deadline) throw new Error(`${this.name} did not start within ${START_DEADLINE_MS} ms:\n${this.output}`);
      await sleep(50);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child?.pid) process.kill(-this.child.pid, signal);
  }

  /**
   * Signals the server and every process it started, wherever they are: PostgreSQL puts each
   * backend in a process group of its own.
   */
  signalTree(signal: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    for (const p of [pid, ...descendants(pid)]) {
      try {
        process.kill(p, signal);
      } catch {
        // ended meanwhile
      }
    }
  }

  /** Sends the signal and waits for the exit; SIGKILL if the server takes too long. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const exited = this.exited;
    // A paused server would never act on the signal.
    this.signalTree('SIGCONT');
    this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), STOP_DEADLINE_MS);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * initdb into `dir`/data. With a password, TCP connections must present it (scram-sha-256); without,
 * they are trusted.
 */
function initdb(program: string, runAs: RunAs | undefined, dir: string, password?: string): void {
  const args = ['-D', join(dir, 'data'), '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C', '--auth-local=trust'];
  if (password) {
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs) chownSync(pwfile, runAs.uid, runAs.gid);
    args.push('--auth-host=scram-sha-256', `--pwfile=${pwfile}`);
  } else {
    args.push('--auth-host=trust');
  }
  execFileSync(runAs ? runAs.prefix[0] : program, [...(runAs ? [...runAs.prefix.slice(1), program] : []), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * A cluster without a password, made by initdb once per test run (in the run's directory) for every
 * such cluster to start as a copy of: initdb takes about a second, a copy a tenth.
 */
function trustingClusterTemplate(program: string, runAs: RunAs | undefined): string {
  const template = join(testDataDir(), 'postgres-cluster-template');
  if (existsSync(template)) return template;
  mkdirSync(testDataDir(), { recursive: true });
  const staging = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  try {
    if (runAs) chownSync(staging, runAs.uid, runAs.gid);
    initdb(program, runAs, staging);
    try {
      renameSync(join(staging, 'data'), template);
      // Removed with the run's directory, or by this if the run is killed.
      watchdog(template);
    } catch (error) {
      // Another test process made it meanwhile: theirs will do.
      if (!existsSync(template)) throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return template;
}

/** A PostgreSQL cluster of its own: initdb into a temporary directory, served on a free port. */
export class OwnPostgres {
  readonly port: number;
  private readonly server = new ServerProcess('PostgreSQL');

  private constructor(
    private readonly dir: string,
    private readonly binaries: { postgres: string },
    private readonly runAs: RunAs | undefined,
    port: number,
    readonly password: string | undefined,
  ) {
    this.port = port;
  }

  /**
   * Creates the cluster (not started). With a password, TCP connections must present it
   * (scram-sha-256); without, they are trusted.
   */
  static async create(options: { password?: string } = {}): Promise<OwnPostgres> {
    const binaries = postgresBinaries();
    const runAs = postgresUser();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
    try {
      if (runAs) chownSync(dir, runAs.uid, runAs.gid);
      if (options.password) {
        initdb(binaries.initdb, runAs, dir, options.password);
      } else {
        // Owners and modes kept: PostgreSQL refuses a data directory it does not own.
        const template = trustingClusterTemplate(binaries.initdb, runAs);
        execFileSync('cp', ['-a', template, join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
      }
      return new OwnPostgres(dir, binaries, runAs, await freePort(), options.password);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`making the PostgreSQL cluster failed: ${(error as Error).message}\n${stderr}`, { cause: error });
    }
  }

  /** postgres://… of a database on this server (the `postgres` database by default). */
  url(database = 'postgres', password = this.password): string {
    const auth = password ? `postgres:${encodeURIComponent(password)}` : 'postgres';
    return `postgres://${auth}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    if (this.server.started) return;
    const command = [
      this.binaries.postgres,
      '-D',
      join(this.dir, 'data'),
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=100',
      '-c',
      'logging_collector=off',
    ];
    this.server.spawn(this.runAs ? [...this.runAs.prefix, ...command] : command, this.dir);
    await this.server.waitUntil(() => this.accepts());
  }

  /** Fast shutdown (SIGINT): sessions are ended, as in a routine restart. */
  async stop(): Promise<void> {
    await this.server.stop('SIGINT');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Freezes every process of the server: connections stay open and nothing answers. */
  pause(): void {
    this.server.signalTree('SIGSTOP');
  }

  resume(): void {
    this.server.signalTree('SIGCONT');
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> {
    const client = new Client({ connectionString: this.url(database), connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async destroy(): Promise<void> {
    await this.server.stop('SIGQUIT');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async accepts(): Promise<boolean> {
    const client = new Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** A redis-server that keeps nothing on disk, stays in the foreground and runs without protected mode. */
function throwawayRedisArgs(dir: string): string[] {
  return ['--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--protected-mode', 'no'];
}

/** A Redis server of its own, without persistence, on a free port. */
export class OwnRedis {
  readonly port: number;
  private readonly server = new ServerProcess('Redis');

  private constructor(
    private readonly binary: string,
    private readonly dir: string,
    port: number,
  ) {
    this.port = port;
  }

  static async create(): Promise<OwnRedis> {
    const binary = redisServerBinary();
    return new OwnRedis(binary, mkdtempSync(join(tmpdir(), 'gatehouse-redis-')), await freePort());
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    if (this.server.started) return;
    this.server.spawn([this.binary, '--port', String(this.port), '--bind', '127.0.0.1', ...throwawayRedisArgs(this.dir)], this.dir);
    await this.server.waitUntil(() => this.answers());
  }

  async stop(): Promise<void> {
    await this.server.stop('SIGTERM');
  }

  pause(): void {
    this.server.signal('SIGSTOP');
  }

  resume(): void {
    this.server.signal('SIGCONT');
  }

  async destroy(): Promise<void> {
    await this.server.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private answers(): Promise<boolean> {
    return redisAnswers(this.url);
  }
}

/**
 * A Redis server of its own that speaks TLS on `tlsPort` and plain TCP on `port`, loopback only,
 * both behind a password: the plain port serves the test's own setup and a service under test, the
 * TLS port the client under test. With `authClients` (the default), TLS clients must present a
 * certificate from `ca`. The PEM files live in the server's directory and go with it.
 */
export class OwnTlsRedis {
  private readonly server = new ServerProcess('Redis (TLS)');

  private constructor(
    private readonly binary: string,
    private readonly dir: string,
    readonly port: number,
    readonly tlsPort: number,
    readonly password: string,
    private readonly authClients: boolean,
  ) {}

  static async create(options: { password: string; cert: string; key: string; ca: string; authClients?: boolean }): Promise<OwnTlsRedis> {
    const binary = redisServerBinary();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-tls-'));
    for (const [file, pem] of [
      ['server.crt', options.cert],
      ['server.key', options.key],
      ['ca.crt', options.ca],
    ] as const) {
      writeFileSync(join(dir, file), pem, { mode: 0o600 });
    }
    return new OwnTlsRedis(binary, dir, await freePort(), await freePort(), options.password, options.authClients ?? true);
  }

  /** redis://:password@… of the plain port. */
  get url(): string {
    return `redis://:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    if (this.server.started) return;
    this.server.spawn(
      [
        this.binary,
        '--port',
        String(this.port),
        '--tls-port',
        String(this.tlsPort),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        join(this.dir, 'server.crt'),
        '--tls-key-file',
        join(this.dir, 'server.key'),
        '--tls-ca-cert-file',
        join(this.dir, 'ca.crt'),
        '--tls-auth-clients',
        this.authClients ? 'yes' : 'no',
        '--requirepass',
        this.password,
        ...throwawayRedisArgs(this.dir),
      ],
      this.dir,
    );
    await this.server.waitUntil(() => this.answers());
  }

  async stop(): Promise<void> {
    await this.server.stop('SIGTERM');
  }

  async destroy(): Promise<void> {
    await this.server.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private answers(): Promise<boolean> {
    return redisAnswers(this.url);
  }
}

/** Whether a Redis server answers PING at this URL, within a second. */
async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
