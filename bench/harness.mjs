// What the bench (run.mjs) and the profiler (profile.mjs) share: knobs from the environment, a
// database of its own on the local PostgreSQL, the built service started as a child process, the
// bench account, and refresh-token chains for autocannon. Everything started or created through a
// Harness is stopped or dropped by its cleanup(), however the run ends.
import { fork, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');
// Preloaded into the service processes so that they stop when the bench dies without stopping them.
export const ORPHAN_GUARD = pathToFileURL(join(BENCH_DIR, 'orphan-guard.mjs')).href;

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** The account every load logs in as. */
export const USER = { email: 'loadtest@example.com', username: 'loadtest', password: 'glacier-teapot-1234' };

export const positiveInt = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
};
export const nonNegativeInt = (name, fallback) => (process.env[name] === '0' ? 0 : positiveInt(name, fallback));

export const percentile = (sorted, p) =>
  sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

/**
 * SIGTERM (the service drains and exits), or `ask` for another way to ask it to stop; SIGKILL after
 * `timeoutMs`. Resolves once it has exited.
 */
export function stopChild(child, { timeoutMs = 5000, ask = () => child.kill('SIGTERM') } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    ask();
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Waits for `ready()` to resolve true, failing fast if the child dies first. */
export async function waitFor(child, name, ready, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} not ready after ${timeoutMs / 1000}s`);
}

/**
 * The environment the bench runs the service in (ports aside): no Redis, LOG_LEVEL=warn, limits and
 * lockout out of the way. Also what a process using the built service's modules on the bench
 * database runs with (bench/mfa-seed.mjs), so that both read the same configuration.
 */
export function gatehouseEnv(databaseUrl) {
  return {
    ...process.env,
    HOST: '127.0.0.1',
    RPC_HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    REDIS_URL: '',
    REQUIRE_EMAIL_VERIFICATION: 'false',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
    // Outlives the whole run, so the /me token never expires mid-measurement.
    ACCESS_TOKEN_TTL: '3600',
    // A load generator is one address hammering one account: limits would measure themselves.
    RATE_LIMIT_PER_MINUTE: '10000000',
    LOCKOUT_THRESHOLD: '1000000',
  };
}

/** Child processes and databases of one run, released by cleanup() (also on SIGINT and SIGTERM). */
export class Harness {
  children = new Set();
  databases = [];
  cleanups = [];
  cleanupPromise = undefined;

  /** `log` writes one line of the run's own output (to stderr). */
  constructor(log) {
    this.log = log;
  }

  /** Cleans up on SIGINT and SIGTERM, and kills what is left if the process exits without it. */
  installSignalHandlers() {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ]) {
      process.once(signal, () => {
        this.log(`${signal}: cleaning up`);
        this.cleanup().finally(() => process.exit(code));
      });
    }
    // Last resort if something calls process.exit without cleanup: at least no orphaned servers.
    process.on('exit', () => {
      for (const child of this.children) child.kill('SIGKILL');
    });
  }

  /** Runs `fn` during cleanup, after the children have stopped and before the databases are dropped. */
  onCleanup(fn) {
    this.cleanups.push(fn);
  }

  cleanup() {
    this.cleanupPromise ??= (async () => {
      await Promise.all([...this.children].map((child) => stopChild(child)));
      for (const fn of this.cleanups) await fn();
      for (const db of this.databases) await this.dropDatabase(db);
    })();
    return this.cleanupPromise;
  }

  /** Child output goes to stderr, prefixed, so stdout stays just the results. */
  track(child, name) {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk) => {
        for (const line of chunk.toString().split('\n')) if (line.trim()) process.stderr.write(`[${name}] ${line}\n`);
      });
    }
    return child;
  }

  /** A fresh database named `<prefix>_<ms>` on the server of `adminUrl`; its URL. Dropped by cleanup(). */
  async createDatabase(adminUrl, prefix = 'gatehouse_bench') {
    const name = `${prefix}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } finally {
      await admin.end();
    }
    this.databases.push({ name, adminUrl });
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    this.log(`created database ${name}`);
    return url.toString();
  }

  async dropDatabase({ name, adminUrl }) {
    const admin = new pg.Client({ connectionString: adminUrl });
    try {
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      this.log(`dropped database ${name}`);
    } catch (error) {
      this.log(`could not drop database ${name}: ${error.message}`);
    } finally {
      await admin.end().catch(() => {});
    }
  }

  /**
   * The built service (dist/src/main.js) on `databaseUrl`, HTTP and TCP on free loopback ports,
   * configured for load: no Redis, LOG_LEVEL=warn, limits and lockout out of the way. `nodeArgs`
   * go before the script (e.g. --cpu-prof). Resolves once /health/ready answers 200.
   */
  async startGatehouse(databaseUrl, { nodeArgs = [], env = {}, name = 'gatehouse' } = {}) {
    const [port, rpcPort] = [await freePort(), await freePort()];
    const child = this.track(
      spawn(process.execPath, [...nodeArgs, '--import', ORPHAN_GUARD, join(ROOT, 'dist/src/main.js')], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...gatehouseEnv(databaseUrl), PORT: String(port), RPC_PORT: String(rpcPort), ...env },
      }),
      name,
    );
    const base = `http://127.0.0.1:${port}`;
    // With LOG_LEVEL=warn the "HTTP on" line is not printed; readiness is the real signal anyway.
    await waitFor(child, name, async () => (await fetch(`${base}/health/ready`)).status === 200);
    this.log(`${name} ready on ${base}, TCP on ${rpcPort}`);
    return { base, rpcPort, pid: child.pid, child };
  }

  /**
   * The framework floors (bench/hello-app.mjs): a bare Nest+Fastify GET /hello and a bare TCP `echo`
   * pattern. `nodeArgs` go to its node. It stops when its IPC channel closes (stopHello).
   */
  async startHello({ nodeArgs = [], name = 'hello' } = {}) {
    const child = this.track(
      fork(join(BENCH_DIR, 'hello-app.mjs'), { execArgv: [...process.execArgv, ...nodeArgs], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }),
      name,
    );
    const { port, rpcPort } = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`hello app exited during startup (code ${code})`)));
    });
    const base = `http://127.0.0.1:${port}`;
    this.log(`hello app ready on ${base}, TCP echo on ${rpcPort}`);
    return { base, rpcPort, pid: child.pid, child };
  }
}

/**
 * Stops the hello app as it expects: by closing its IPC channel (it then closes and exits 0, so a
 * --cpu-prof profile is written; SIGTERM would end it by the signal, without one). SIGKILL after `timeoutMs`.
 */
export function stopHello(child, { timeoutMs = 5000 } = {}) {
  return stopChild(child, { timeoutMs, ask: () => child.disconnect() });
}

export async function postJson(url, body, expected) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`POST ${url} → ${res.status} (expected ${expected}): ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export const login = (base) => postJson(`${base}/auth/login`, { email: USER.email, password: USER.password }, 200);

/** One fresh session per connection: each gets its own refresh-token chain. */
export async function freshRefreshTokens(base, n) {
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push((await login(base)).tokens.refreshToken);
  return tokens;
}

export const jsonPost = (base, path) => ({ url: `${base}${path}`, method: 'POST', headers: { 'content-type': 'application/json' } });

/**
 * Each connection carries its own refresh-token chain: the token from each response is sent in the
 * next request on that connection. autocannon resets `context` after every pass over `requests`, so
 * the chain lives in a per-client closure installed by setupClient instead.
 */
export function refreshOptions(base, tokens) {
  const pool = [...tokens];
  return {
    url: `${base}/auth/refresh`,
    connections: tokens.length,
    setupClient(client) {
      const chain = { token: pool.pop() };
      if (!chain.token) throw new Error('more connections than prepared refresh tokens');
      client.setRequests([
        {
          method: 'POST',
          path: '/auth/refresh',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ refreshToken: chain.token }) }),
          onResponse: (status, body) => {
            // A failed rotation breaks this chain for good; the non-2xx count reports it.
            if (status === 200) chain.token = JSON.parse(body).tokens.refreshToken;
          },
        },
      ]);
    },
  };
}
