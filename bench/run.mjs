// Benchmarks gatehouse against the ceilings it cannot beat on this machine:
//   login   vs raw argon2id verifies (login is one verify plus a session insert and a JWT),
//   /me     vs a bare Nest+Fastify route (the framework floor),
//   refresh with chained single-use tokens (must be all 2xx to count).
// Usage: npm run bench   (builds first; needs PostgreSQL, see BENCH_DATABASE_ADMIN_URL)
import autocannon from 'autocannon';
import pg from 'pg';
import { fork, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH_DIR, '..');

const positiveInt = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer (got "${raw}")`);
  return n;
};
const nonNegativeInt = (name, fallback) => (process.env[name] === '0' ? 0 : positiveInt(name, fallback));

const CONFIG = {
  adminUrl: process.env.BENCH_DATABASE_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/test',
  durationS: positiveInt('BENCH_DURATION', 10),
  // Short, untimed run before each measurement so JIT, pools and caches are warm.
  warmupS: nonNegativeInt('BENCH_WARMUP', 2),
  connections: positiveInt('BENCH_CONNECTIONS', 10),
  // Login is argon2-bound: more connections than threadpool slots only adds queueing latency.
  loginConnections: positiveInt('BENCH_LOGIN_CONNECTIONS', 8),
  refreshConnections: positiveInt('BENCH_REFRESH_CONNECTIONS', 8),
};

const TARGETS = { login: 0.9, me: 0.7, sibling: 0.8 };
const USER = { email: 'loadtest@example.com', username: 'loadtest', password: 'glacier-teapot-1234' };

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Resources that must be released however the run ends.

const children = new Set();
let benchDb; // { name, adminUrl } once created
let cleanupPromise;

function cleanup() {
  cleanupPromise ??= (async () => {
    await Promise.all([...children].map(stopChild));
    if (benchDb) {
      const admin = new pg.Client({ connectionString: benchDb.adminUrl });
      try {
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(benchDb.name)} WITH (FORCE)`);
        log(`dropped database ${benchDb.name}`);
      } catch (error) {
        log(`could not drop database ${benchDb.name}: ${error.message}`);
      } finally {
        await admin.end().catch(() => {});
      }
    }
  })();
  return cleanupPromise;
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    cleanup().finally(() => process.exit(code));
  });
}
// Last resort if something calls process.exit without cleanup: at least no orphaned servers.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child, name) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  // Child output goes to stderr, prefixed, so stdout stays just the results table.
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) process.stderr.write(`[${name}] ${line}\n`);
    });
  }
  return child;
}

// ---------------------------------------------------------------------------------------------
// Setup

async function createDatabase() {
  const name = `gatehouse_bench_${Date.now()}`;
  const admin = new pg.Client({ connectionString: CONFIG.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  benchDb = { name, adminUrl: CONFIG.adminUrl };
  const url = new URL(CONFIG.adminUrl);
  url.pathname = `/${name}`;
  log(`created database ${name}`);
  return url.toString();
}

function freePort() {
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
async function waitFor(child, name, ready, timeoutMs = 60_000) {
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

async function startGatehouse(databaseUrl) {
  const [port, rpcPort] = [await freePort(), await freePort()];
  const child = track(
    spawn(process.execPath, [join(ROOT, 'dist/src/main.js')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        RPC_HOST: '127.0.0.1',
        RPC_PORT: String(rpcPort),
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
      },
    }),
    'gatehouse',
  );
  const base = `http://127.0.0.1:${port}`;
  // With LOG_LEVEL=warn the "HTTP on" line is not printed; readiness is the real signal anyway.
  await waitFor(child, 'gatehouse', async () => (await fetch(`${base}/health/ready`)).status === 200);
  log(`gatehouse ready on ${base}`);
  return base;
}

async function startHello() {
  const child = track(fork(join(BENCH_DIR, 'hello-app.mjs'), { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }), 'hello');
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`hello app exited during startup (code ${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  log(`hello app ready on ${base}`);
  return base;
}

/** The example sibling app (gatehouse/client, offline mode) from the build, verifying against `base`. */
async function startSibling(base) {
  const [port, rpcPort] = [await freePort(), await freePort()];
  const child = track(
    fork(join(ROOT, 'dist/examples/sibling-app/main.js'), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, GATEHOUSE_URL: base, GATEHOUSE_ISSUER: 'http://localhost:3000', PORT: String(port), RPC_PORT: String(rpcPort) },
    }),
    'sibling',
  );
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`sibling app exited during startup (code ${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  log(`sibling app ready on ${url}`);
  return url;
}

async function postJson(url, body, expected) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== expected) throw new Error(`POST ${url} → ${res.status} (expected ${expected}): ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const login = (base) => postJson(`${base}/auth/login`, { email: USER.email, password: USER.password }, 200);

/** One fresh session per connection: each gets its own refresh-token chain. */
async function freshRefreshTokens(base, n) {
  const tokens = [];
  for (let i = 0; i < n; i++) tokens.push((await login(base)).tokens.refreshToken);
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Measurements

async function rawArgon2() {
  const args = [CONFIG.loginConnections, CONFIG.durationS, CONFIG.warmupS].map(String);
  const child = track(fork(join(BENCH_DIR, 'argon2-verify.mjs'), args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }), 'argon2');
  return new Promise((resolve, reject) => {
    let result;
    child.once('message', (m) => (result = m));
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`argon2 child exited without a result (code ${code})`))));
  });
}

/**
 * Runs autocannon once as warmup (discarded) and once measured. `opts` may be a function to get fresh
 * state per run. Every response must have the `expected` status (2xx by default).
 */
async function load(title, opts, expected) {
  const build = typeof opts === 'function' ? opts : () => opts;
  if (CONFIG.warmupS > 0) await autocannon({ ...(await build()), duration: CONFIG.warmupS });
  log(`measuring ${title} for ${CONFIG.durationS}s`);
  const result = await autocannon({ ...(await build()), title, duration: CONFIG.durationS });
  const answered = expected ? (result.statusCodeStats?.[expected]?.count ?? 0) : result['2xx'];
  const unexpected = expected ? result.requests.total - answered : result.non2xx;
  const problems = { non2xx: unexpected, errors: result.errors, timeouts: result.timeouts, mismatches: result.mismatches };
  const valid = answered > 0 && Object.values(problems).every((n) => n === 0);
  if (!valid) log(`${title}: INVALID: ${result['2xx']} 2xx, ${JSON.stringify(problems)}, status codes ${JSON.stringify(result.statusCodeStats)}`);
  return {
    valid,
    ok2xx: answered,
    ...problems,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    raw: result,
  };
}

/**
 * Each connection carries its own refresh-token chain: the token from each response is sent in the
 * next request on that connection. autocannon resets `context` after every pass over `requests`, so
 * the chain lives in a per-client closure installed by setupClient instead.
 */
function refreshOptions(base, tokens) {
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

// ---------------------------------------------------------------------------------------------
// Report

const fmtRate = (n) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
// autocannon records latency in whole milliseconds, so 0 means "under 1 ms".
const fmtMs = (n) => (n === undefined ? '—' : n < 1 ? '<1' : n < 10 ? n.toFixed(1) : n.toFixed(0));
const check = (ok) => (ok ? '✓' : '✗');

function buildRows(m) {
  const loginRatio = m.login.reqPerSec / m.argon2.perSecond;
  const meRatio = m.me.reqPerSec / m.hello.reqPerSec;
  const invalid = (r) => (r.valid ? '' : ' **INVALID**');
  return [
    {
      measurement: `argon2id verify, raw (${CONFIG.loginConnections} in flight)`,
      reqPerSec: m.argon2.perSecond, p50: m.argon2.latency.p50, p99: m.argon2.latency.p99,
      ceiling: null, ratio: null, target: '',
    },
    {
      measurement: `POST /auth/login (${CONFIG.loginConnections} conn)${invalid(m.login)}`,
      reqPerSec: m.login.reqPerSec, p50: m.login.p50, p99: m.login.p99,
      ceiling: m.argon2.perSecond, ratio: loginRatio,
      target: `≥ ${TARGETS.login} ${check(m.login.valid && loginRatio >= TARGETS.login)}`,
    },
    {
      measurement: `POST /auth/login, wrong password → 401 (${CONFIG.loginConnections} conn)${invalid(m.wrongPassword)}`,
      reqPerSec: m.wrongPassword.reqPerSec, p50: m.wrongPassword.p50, p99: m.wrongPassword.p99,
      ceiling: null, ratio: null, target: '',
    },
    {
      measurement: `POST /auth/login, unknown user → 401 (${CONFIG.loginConnections} conn)${invalid(m.unknownUser)}`,
      reqPerSec: m.unknownUser.reqPerSec, p50: m.unknownUser.p50, p99: m.unknownUser.p99,
      ceiling: m.wrongPassword.reqPerSec, ratio: m.unknownUser.reqPerSec / m.wrongPassword.reqPerSec,
      target: `≈ 1 (same cost) ${check(m.unknownUser.valid && Math.abs(m.unknownUser.reqPerSec / m.wrongPassword.reqPerSec - 1) <= 0.1)}`,
    },
    {
      measurement: `GET /hello, bare Nest+Fastify (${CONFIG.connections} conn)${invalid(m.hello)}`,
      reqPerSec: m.hello.reqPerSec, p50: m.hello.p50, p99: m.hello.p99,
      ceiling: null, ratio: null, target: '',
    },
    {
      measurement: `GET /auth/me (${CONFIG.connections} conn)${invalid(m.me)}`,
      reqPerSec: m.me.reqPerSec, p50: m.me.p50, p99: m.me.p99,
      ceiling: m.hello.reqPerSec, ratio: meRatio,
      target: `≥ ${TARGETS.me} ${check(m.me.valid && meRatio >= TARGETS.me)}`,
    },
    {
      measurement: `GET /orders, sibling app guarded offline by gatehouse/client (${CONFIG.connections} conn)${invalid(m.sibling)}`,
      reqPerSec: m.sibling.reqPerSec, p50: m.sibling.p50, p99: m.sibling.p99,
      ceiling: m.hello.reqPerSec, ratio: m.sibling.reqPerSec / m.hello.reqPerSec,
      target: `≥ ${TARGETS.sibling} ${check(m.sibling.valid && m.sibling.reqPerSec / m.hello.reqPerSec >= TARGETS.sibling)}`,
    },
    {
      measurement: `POST /auth/refresh, chained (${CONFIG.refreshConnections} conn)${invalid(m.refresh)}`,
      reqPerSec: m.refresh.reqPerSec, p50: m.refresh.p50, p99: m.refresh.p99,
      ceiling: null, ratio: null,
      target: `0 non-2xx ${check(m.refresh.valid)} (${m.refresh.non2xx})`,
    },
  ];
}

function markdownTable(rows) {
  const lines = [
    '| measurement | req/s | p50 ms | p99 ms | ceiling | ratio | target |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.measurement} | ${fmtRate(r.reqPerSec)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ` +
      `${r.ceiling === null ? '—' : fmtRate(r.ceiling)} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.target || '—'} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const cpus = os.cpus();
  const machine = {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
    // On 2 cores any other busy process skews every figure; the load average makes that visible.
    loadAvgAtStart: os.loadavg()[0],
  };

  const databaseUrl = await createDatabase();
  const base = await startGatehouse(databaseUrl);
  const helloBase = await startHello();
  const siblingBase = await startSibling(base);

  await postJson(`${base}/auth/register`, USER, 201);
  const { tokens } = await login(base);

  const m = {};
  log(`measuring raw argon2id verify for ${CONFIG.durationS}s`);
  m.argon2 = await rawArgon2();
  m.login = await load('POST /auth/login', {
    url: `${base}/auth/login`,
    connections: CONFIG.loginConnections,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: USER.email, password: USER.password }),
  });
  // Wrong password and unknown user must cost the same (a dummy hash is verified on a miss).
  const failedLogin = (email, password) => ({
    url: `${base}/auth/login`,
    connections: CONFIG.loginConnections,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  m.wrongPassword = await load('POST /auth/login, wrong password', failedLogin(USER.email, 'not the password'), 401);
  m.unknownUser = await load('POST /auth/login, unknown user', failedLogin(`nobody-${USER.email}`, 'not the password'), 401);
  m.hello = await load('GET /hello', { url: `${helloBase}/hello`, connections: CONFIG.connections });
  m.me = await load('GET /auth/me', {
    url: `${base}/auth/me`,
    connections: CONFIG.connections,
    headers: { authorization: `Bearer ${tokens.accessToken}` },
  });
  m.sibling = await load('GET /orders on the sibling app', {
    url: `${siblingBase}/orders`,
    connections: CONFIG.connections,
    headers: { authorization: `Bearer ${tokens.accessToken}` },
  });
  // Fresh chains for warmup and for the measured run: a chain cut off mid-request cannot be resumed.
  m.refresh = await load('POST /auth/refresh', async () =>
    refreshOptions(base, await freshRefreshTokens(base, CONFIG.refreshConnections)));

  machine.loadAvgAtEnd = os.loadavg()[0];
  const rows = buildRows(m);
  const table = markdownTable(rows);
  const machineLine = `Machine: ${machine.cores} cores, ${machine.cpuModel}, node ${machine.node}, ` +
    `libuv threadpool ${machine.uvThreadpoolSize}; ${CONFIG.durationS}s per measurement after ${CONFIG.warmupS}s warmup; ` +
    `1-min load average ${machine.loadAvgAtStart.toFixed(2)} before, ${machine.loadAvgAtEnd.toFixed(2)} after (the bench itself adds ~2).`;
  const measured = ['login', 'wrongPassword', 'unknownUser', 'hello', 'me', 'sibling', 'refresh'];
  const checks = measured
    .map((k) => `${k}: ${m[k].ok2xx} as expected, ${m[k].non2xx} other, ${m[k].errors} errors, ${m[k].timeouts} timeouts`)
    .join('; ');
  const valid = measured.every((k) => m[k].valid);

  process.stdout.write(`\n${table}\n\n${machineLine}\nChecks: ${checks}\n`);
  if (!valid) process.stdout.write('**Some measurements are INVALID (non-2xx or errors); their figures mean nothing.**\n');

  const resultsDir = join(BENCH_DIR, 'results');
  await mkdir(resultsDir, { recursive: true });
  const raw = Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.raw ?? v]));
  await writeFile(
    join(resultsDir, 'latest.json'),
    `${JSON.stringify({ finishedAt: new Date().toISOString(), machine, config: { ...CONFIG, adminUrl: undefined }, targets: TARGETS, valid, rows, table, raw }, null, 2)}\n`,
  );
  log('wrote bench/results/latest.json');
  return valid;
}

let exitCode;
try {
  exitCode = (await main()) ? 0 : 1;
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
