// Benchmarks gatehouse against the ceilings it cannot beat on this machine, each measured in the
// same run:
//   login        vs raw argon2id verifies (login is one verify plus a session insert and a JWT), and
//                the reads of mfa_totp PostgreSQL counted per login of an account without a second
//                factor (the gate must need none),
//   login        with 1,000 vs 1,000,000 accounts in the table (bulk-seeded, a random account each),
//   /auth/me     vs a bare Nest+Fastify route (the framework floor), in alternating rounds,
//   sibling      GET /orders of the example sibling app, @gatehouse/client installed from its packed
//                tarball into an app of its own, vs the same bare route,
//   auth.verify  over TCP vs a bare Nest TCP echo (same framing, load generator and concurrency),
//   refresh      with chained single-use tokens (must be all 2xx to count), vs its floors: the same
//                number of chains rotating tokens in one statement straight through pg, and ES256
//                signatures on one thread,
//   mfa verify   TOTP codes against seeded mfaTokens (one per request, each account's step unused),
//                in alternating rounds with refresh, the nearest path without a hash,
//   health       p99 alone vs while logins saturate the hash pool,
//   memory       RSS of the gatehouse process idle and at its peak under load,
//   legacy       a wrong password for imported bcrypt (cost 4) and weak argon2 accounts vs a native one,
//   revocation   how long a second instance accepts a token after a logout on the first.
// Usage: npm run bench   (builds first; needs PostgreSQL, see BENCH_DATABASE_ADMIN_URL)
//        BENCH_QUICK=1 npm run bench   (a smoke run: short loads, 20,000 accounts instead of 1,000,000)
import { fork, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hash as argon2Hash } from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import autocannon from 'autocannon';
import pg from 'pg';

import { measureHealthUnderFlood } from './flood.mjs';
import {
  BENCH_DIR,
  DEFAULT_ADMIN_URL,
  freePort,
  freshRefreshTokens,
  Harness,
  jsonPost,
  login,
  nonNegativeInt,
  ORPHAN_GUARD,
  percentile,
  positiveInt,
  postJson,
  refreshOptions,
  ROOT,
  USER,
} from './harness.mjs';
import { mfaLoadFits, mfaVerifyOptions, removeMfaAccounts, seedMfaChallenges } from './mfa-verify.mjs';
import { rotationFloor, signingFloor } from './refresh-floor.mjs';
import { tcpLoad } from './tcp-load.mjs';

// Quick mode only changes the defaults; every knob set explicitly still wins.
const QUICK = ['1', 'true', 'yes'].includes((process.env.BENCH_QUICK ?? '').toLowerCase());

const CONFIG = {
  adminUrl: process.env.BENCH_DATABASE_ADMIN_URL || DEFAULT_ADMIN_URL,
  quick: QUICK,
  durationS: positiveInt('BENCH_DURATION', QUICK ? 2 : 10),
  // Short, untimed run before each measurement so JIT, pools and caches are warm.
  warmupS: nonNegativeInt('BENCH_WARMUP', QUICK ? 1 : 2),
  connections: positiveInt('BENCH_CONNECTIONS', 10),
  // Login is argon2-bound: more connections than threadpool slots only adds queueing latency.
  loginConnections: positiveInt('BENCH_LOGIN_CONNECTIONS', 8),
  refreshConnections: positiveInt('BENCH_REFRESH_CONNECTIONS', 10),
  mfaConnections: positiveInt('BENCH_MFA_CONNECTIONS', 8),
  // Each verify spends a seeded mfaToken: the seeding provides for this many per second of load.
  mfaRate: positiveInt('BENCH_MFA_RATE', 2000),
  // Nest TCP clients multiplex: each connection keeps several requests outstanding.
  tcpConnections: positiveInt('BENCH_TCP_CONNECTIONS', 4),
  tcpInFlight: positiveInt('BENCH_TCP_IN_FLIGHT', 4),
  // Health is probed at a steady rate, as a load balancer or orchestrator would (0: as fast as possible).
  healthConnections: positiveInt('BENCH_HEALTH_CONNECTIONS', 1),
  healthRate: nonNegativeInt('BENCH_HEALTH_RATE', 100),
  usersSmall: positiveInt('BENCH_USERS_SMALL', 1000),
  usersLarge: positiveInt('BENCH_USERS_LARGE', QUICK ? 20_000 : 1_000_000),
  rssIntervalMs: positiveInt('BENCH_RSS_INTERVAL_MS', 100),
  // How long the service sits without load before its idle RSS is read.
  idleSettleS: nonNegativeInt('BENCH_IDLE_SETTLE', QUICK ? 1 : 3),
  // A route and its bare baseline are measured in this many alternating rounds (see alternating()).
  rounds: positiveInt('BENCH_ROUNDS', QUICK ? 1 : 3),
  // Logins with oversized passwords, sent while health is probed: how many, and how many at a time.
  floodRequests: positiveInt('BENCH_FLOOD_REQUESTS', 60),
  floodConcurrency: positiveInt('BENCH_FLOOD_CONCURRENCY', 20),
  floodBytes: positiveInt('BENCH_FLOOD_BYTES', 1024 * 1024),
  // Logouts on one instance, each followed by polling the other until it refuses the token.
  revocations: positiveInt('BENCH_REVOCATIONS', QUICK ? 50 : 300),
};
if (CONFIG.usersLarge <= CONFIG.usersSmall) throw new Error('BENCH_USERS_LARGE must be greater than BENCH_USERS_SMALL');

/** Ratios to the same-run baseline, but for `refresh`, `mfaVerify` (req/s), `rss*` (MiB) and `health*`, `mfaVerifyP99` (ms p99). */
const TARGETS = {
  login: 0.9,
  me: 0.7,
  sibling: 0.8,
  verify: 0.8,
  refresh: 1700,
  mfaVerify: 500,
  mfaVerifyP99: 30,
  tableSize: 0.9,
  rssIdle: 120,
  rssLogin: 180,
  healthSaturated: 100,
  healthFlood: 200,
};

const log = (msg) => process.stderr.write(`[bench] ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// Resources that must be released however the run ends.

const harness = new Harness(log);
harness.installSignalHandlers();
let siblingDir; // the installed sibling app, once made
harness.onCleanup(async () => {
  if (siblingDir) await rm(siblingDir, { recursive: true, force: true });
});
const track = (child, name) => harness.track(child, name);

// ---------------------------------------------------------------------------------------------
// Setup

const createDatabase = () => harness.createDatabase(CONFIG.adminUrl);
const startGatehouse = (databaseUrl) => harness.startGatehouse(databaseUrl);

const startHello = () => harness.startHello();

/** Runs npm to its end, its output kept for the error; `npm run bench`'s own settings for this project are not passed on. */
function runNpm(args, cwd) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !/^(npm_(?!config_(registry|https?_proxy|proxy|noproxy|cafile|ca|strict_ssl|userconfig|nodedir)$)|INIT_CWD$)/i.test(key),
    ),
  );
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`npm ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`)),
    );
  });
}

/**
 * The example sibling app as a user runs it: packages/client packed, the tarball installed into a
 * fresh app of its own beside the same Nest versions as gatehouse (so the bare route stays its
 * baseline), and the example's build copied in.
 */
async function installSibling() {
  siblingDir = await mkdtemp(join(os.tmpdir(), 'gatehouse-bench-sibling-'));
  const packed = await runNpm(['pack', '--workspace', '@gatehouse/client', '--pack-destination', siblingDir, '--json', '--silent'], ROOT);
  const [{ filename }] = JSON.parse(packed.slice(packed.search(/^\[/m)));
  const installed = async (name) => JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  const peers = ['@nestjs/common', '@nestjs/core', '@nestjs/microservices', '@nestjs/platform-fastify', 'reflect-metadata', 'rxjs'];
  const dependencies = Object.fromEntries(await Promise.all(peers.map(async (name) => [name, await installed(name)])));
  dependencies['@gatehouse/client'] = `file:./${filename}`;
  await writeFile(join(siblingDir, 'package.json'), JSON.stringify({ name: 'bench-sibling', private: true, dependencies }, null, 2));
  await runNpm(['install', '--no-audit', '--no-fund', '--prefer-offline'], siblingDir);
  const build = join(ROOT, 'dist/examples/sibling-app');
  for (const file of await readdir(build)) if (file.endsWith('.js')) await copyFile(join(build, file), join(siblingDir, file));
  log(`sibling app installed from ${filename}`);
}

/** The example sibling app (@gatehouse/client from its tarball, offline mode), verifying against `base`. */
async function startSibling(base) {
  await installSibling();
  const [port, rpcPort] = [await freePort(), await freePort()];
  const child = track(
    fork(join(siblingDir, 'main.js'), {
      cwd: siblingDir,
      execArgv: [...process.execArgv, '--import', ORPHAN_GUARD],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...process.env,
        GATEHOUSE_URL: base,
        GATEHOUSE_ISSUER: 'http://localhost:3000',
        PORT: String(port),
        RPC_PORT: String(rpcPort),
      },
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

// ---------------------------------------------------------------------------------------------
// Seeding

/**
 * Inserts accounts `bench-user-<from..to>@example.com` in one INSERT … SELECT generate_series, all
 * with the same precomputed argon2id hash, then vacuums, analyzes and checkpoints. Returns seconds.
 */
async function seedUsers(databaseUrl, from, to, passwordHash) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    log(`seeding accounts ${from}..${to}`);
    const t0 = performance.now();
    await client.query(
      `INSERT INTO users (email, username, password_hash, email_verified)
       SELECT 'bench-user-' || g || '@example.com', 'bench-user-' || g, $1, true
       FROM generate_series($2::int, $3::int) AS g`,
      [passwordHash, from, to],
    );
    const insertS = (performance.now() - t0) / 1000;
    // Done now rather than by autovacuum, hint-bit writes and a checkpoint during the measurement.
    await client.query('VACUUM (ANALYZE) users');
    await client.query('CHECKPOINT').catch((error) => log(`CHECKPOINT skipped: ${error.message}`));
    const totalS = (performance.now() - t0) / 1000;
    const { rows } = await client.query('SELECT count(*)::int AS n FROM users');
    log(
      `seeded ${to - from + 1} accounts in ${insertS.toFixed(2)}s (with VACUUM ANALYZE and CHECKPOINT: ${totalS.toFixed(2)}s); ${rows[0].n} in the table`,
    );
    return { rows: to - from + 1, insertS, totalS, tableRows: rows[0].n };
  } finally {
    await client.end();
  }
}

/** Accounts as users.import leaves them: a legacy hash, not yet upgraded by a login. */
async function seedLegacyAccounts(databaseUrl, password) {
  const legacy = {
    bcrypt: { email: 'legacy-bcrypt@example.com', hash: await bcryptHash(password, { cost: 4 }) },
    argon2: {
      email: 'legacy-argon2@example.com',
      hash: await argon2Hash(password, { algorithm: 2, memoryCost: 4096, timeCost: 1, parallelism: 1 }),
    },
  };
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (const { email, hash } of Object.values(legacy)) {
      await client.query('INSERT INTO users (email, password_hash, email_verified) VALUES ($1, $2, true)', [email, hash]);
    }
  } finally {
    await client.end();
  }
  return legacy;
}

/**
 * Logs in on A, has B see the session live (cached), logs out on A, then asks B again and again
 * until it refuses: the time from the logout's answer to B's first refusal, per logout.
 */
async function revocationWindow(baseA, baseB, n) {
  const meOn = (base, auth) => fetch(`${base}/auth/me`, { headers: auth }).then(async (r) => (await r.arrayBuffer(), r.status));
  const delays = [];
  const roundTrips = [];
  let acceptedAfterLogout = 0;
  let refusedAtOnceByA = 0;
  for (let i = 0; i < n; i += 1) {
    const { tokens } = await login(baseA);
    const auth = { authorization: `Bearer ${tokens.accessToken}` };
    const t0 = performance.now();
    if ((await meOn(baseB, auth)) !== 200) throw new Error('the other instance refused a live session');
    roundTrips.push(performance.now() - t0);
    const out = await fetch(`${baseA}/auth/logout`, { method: 'POST', headers: auth });
    if (out.status !== 204) throw new Error(`logout answered ${out.status}`);
    const loggedOut = performance.now();
    // B first, straight after the logout's answer: the first request there is the one most likely to slip through.
    let polls = 0;
    while ((await meOn(baseB, auth)) === 200) {
      polls += 1;
      if (performance.now() - loggedOut > 10_000) throw new Error('the other instance still accepts a logged-out token after 10 s');
    }
    if (polls > 0) acceptedAfterLogout += 1;
    delays.push(performance.now() - loggedOut);
    if ((await meOn(baseA, auth)) === 401) refusedAtOnceByA += 1;
  }
  const sorted = [...delays].sort((x, y) => x - y);
  const trips = [...roundTrips].sort((x, y) => x - y);
  return {
    n,
    acceptedAfterLogout,
    refusedAtOnceByA,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1),
    roundTrip: { p50: percentile(trips, 50), p99: percentile(trips, 99) },
    valid: refusedAtOnceByA === n,
  };
}

/**
 * PostgreSQL's own counters for the bench database: sessions in the table, and reads (index and
 * sequential scans) of mfa_totp. A busy backend publishes its counts at most once a second, and
 * what it holds back 10 s after it goes idle (PostgreSQL 15: PGSTAT_IDLE_INTERVAL).
 */
async function databaseCounters(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT (SELECT count(*)::int FROM sessions) AS sessions,
              (SELECT (seq_scan + coalesce(idx_scan, 0))::int FROM pg_stat_user_tables WHERE relname = 'mfa_totp') AS totp_reads`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

/**
 * Reads of mfa_totp per login of an account without a second factor, counted by PostgreSQL: the
 * gate must not need one (it reads users.mfa_enabled). `before` is databaseCounters() taken before
 * the logins, which ended at `loginEnded` (performance.now()); the database must have been left
 * alone since.
 */
async function perLogin(databaseUrl, before, loginEnded) {
  const published = loginEnded + 11_000 - performance.now();
  if (published > 0) await new Promise((resolve) => setTimeout(resolve, published));
  const after = await databaseCounters(databaseUrl);
  const logins = after.sessions - before.sessions;
  return {
    logins,
    totpReads: (after.totp_reads - before.totp_reads) / logins,
  };
}

/** The hash the service itself stored for the bench account: every seeded account shares its password. */
async function storedHash(databaseUrl, email) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query('SELECT password_hash FROM users WHERE email = $1', [email]);
    if (!rows[0]) throw new Error(`no stored hash for ${email}`);
    return rows[0].password_hash;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Memory: VmRSS of a process, read from /proc (Linux); undefined elsewhere.

async function readRssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts sampling; the returned function stops and resolves `{ peakMiB, samples }` (or undefined). */
function sampleRss(pid) {
  const samples = [];
  let pending = Promise.resolve();
  const timer = setInterval(() => {
    pending = pending.then(async () => {
      const kib = await readRssKiB(pid);
      if (kib !== undefined) samples.push(kib);
    });
  }, CONFIG.rssIntervalMs);
  return async () => {
    clearInterval(timer);
    await pending;
    const last = await readRssKiB(pid);
    if (last !== undefined) samples.push(last);
    return samples.length === 0 ? undefined : { peakMiB: Math.max(...samples) / 1024, samples: samples.length };
  };
}

/** RSS of a process left alone: the median of a few readings after `settleS` without load. */
async function idleRssMiB(pid, settleS = CONFIG.idleSettleS) {
  await new Promise((r) => setTimeout(r, settleS * 1000));
  const readings = [];
  for (let i = 0; i < 5; i++) {
    const kib = await readRssKiB(pid);
    if (kib !== undefined) readings.push(kib);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (readings.length === 0) return undefined;
  readings.sort((a, b) => a - b);
  return readings[Math.floor(readings.length / 2)] / 1024;
}

// ---------------------------------------------------------------------------------------------
// Measurements

/** Raw verifies, `CONFIG.loginConnections` in flight, on a libuv pool of `threads` (Node's default: 4). */
async function rawArgon2(threads) {
  const args = [CONFIG.loginConnections, CONFIG.durationS, CONFIG.warmupS].map(String);
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(threads) };
  const child = track(fork(join(BENCH_DIR, 'argon2-verify.mjs'), args, { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }), 'argon2');
  return new Promise((resolve, reject) => {
    let result;
    child.once('message', (m) => (result = m));
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`argon2 child exited without a result (code ${code})`))));
  });
}

/**
 * One autocannon run. Latencies are taken from its `response` events (fractional milliseconds):
 * its own histogram counts whole milliseconds only, too coarse for sub-millisecond routes.
 */
async function autocannonRun({ answers, ...opts }) {
  const latencies = [];
  const rated = opts.overallRate !== undefined || opts.connectionRate !== undefined;
  const instance = autocannon(rated ? { ...opts, ignoreCoordinatedOmission: true } : opts);
  instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  const result = await instance;
  // Answers with the expected status but not the expected body, counted by the options' own check.
  if (answers) result.mismatches += answers.mismatches;
  latencies.sort((a, b) => a - b);
  return { result, latencies };
}

/** Every response must have the `expected` status (2xx by default); anything else invalidates the figure. */
function summarize(title, { result, latencies }, expected) {
  const answered = expected ? (result.statusCodeStats?.[expected]?.count ?? 0) : result['2xx'];
  const unexpected = expected ? result.requests.total - answered : result.non2xx;
  const problems = { non2xx: unexpected, errors: result.errors, timeouts: result.timeouts, mismatches: result.mismatches };
  const valid = answered > 0 && Object.values(problems).every((n) => n === 0);
  if (!valid)
    log(`${title}: INVALID: ${result['2xx']} 2xx, ${JSON.stringify(problems)}, status codes ${JSON.stringify(result.statusCodeStats)}`);
  return {
    valid,
    ok2xx: answered,
    ...problems,
    reqPerSec: result.requests.average,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    raw: result,
  };
}

/**
 * Runs several loads at the same time: all warm up together (discarded), then all are measured
 * together. Each spec is `{ key, title, opts, expected? }`; `opts` may be a function to get fresh
 * state per run. With `rssPid`, that process's RSS is sampled during the measured run.
 */
async function loadTogether(specs, { rssPid, durationS = CONFIG.durationS, warmupS = CONFIG.warmupS } = {}) {
  const build = async (spec) => (typeof spec.opts === 'function' ? spec.opts() : spec.opts);
  if (warmupS > 0) await Promise.all(specs.map(async (spec) => autocannonRun({ ...(await build(spec)), duration: warmupS })));
  log(`measuring ${specs.map((spec) => spec.title).join(' + ')} for ${durationS}s`);
  const stopRss = rssPid ? sampleRss(rssPid) : undefined;
  const runs = await Promise.all(
    specs.map(async (spec) => autocannonRun({ ...(await build(spec)), title: spec.title, duration: durationS })),
  );
  const rss = await stopRss?.();
  return Object.fromEntries(specs.map((spec, i) => [spec.key, { ...summarize(spec.title, runs[i], spec.expected), rss }]));
}

async function load(title, opts, { expected, rssPid, durationS, warmupS } = {}) {
  return (await loadTogether([{ key: 'only', title, opts, expected }], { rssPid, durationS, warmupS })).only;
}

/** The length of one round of alternating(). */
const roundSeconds = () => Math.max(1, Math.round(CONFIG.durationS / CONFIG.rounds));

/**
 * A figure and its baseline measured in alternation, `CONFIG.rounds` rounds of `durationS / rounds`
 * each (warmed up once, before the first round), so that a slow spell of the machine falls on both.
 * `measures` maps each key to `(durationS, warmupS) => summary`. Per key: req/s is the mean of the
 * rounds, p50 the median of their p50s, p99 the highest of their p99s; `rounds` keeps each round.
 */
async function alternating(measures) {
  const keys = Object.keys(measures);
  const rounds = Object.fromEntries(keys.map((key) => [key, []]));
  const durationS = roundSeconds();
  for (let round = 0; round < CONFIG.rounds; round++) {
    for (const key of keys) rounds[key].push(await measures[key](durationS, round === 0 ? CONFIG.warmupS : 0));
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
  return Object.fromEntries(
    keys.map((key) => {
      const runs = rounds[key];
      const sum = (field) => runs.reduce((total, r) => total + (r[field] ?? 0), 0);
      const peaks = runs.map((r) => r.rss?.peakMiB).filter((v) => v !== undefined);
      const merged = {
        ...runs[0],
        valid: runs.every((r) => r.valid),
        ok2xx: sum('ok2xx'),
        non2xx: sum('non2xx'),
        errors: sum('errors'),
        timeouts: sum('timeouts'),
        mismatches: sum('mismatches'),
        reqPerSec: sum('reqPerSec') / runs.length,
        p50: median(runs.map((r) => r.p50)),
        p99: Math.max(...runs.map((r) => r.p99)),
        rss: peaks.length > 0 ? { peakMiB: Math.max(...peaks) } : undefined,
        raw: runs.map((r) => r.raw),
        rounds: runs.map((r) => ({ reqPerSec: r.reqPerSec, p50: r.p50, p99: r.p99 })),
      };
      return [key, merged];
    }),
  );
}

/** auth.verify and the echo over Nest's TCP framing: warmup (discarded), then measured. */
async function tcpMeasure(title, opts, { rssPid, durationS = CONFIG.durationS, warmupS = CONFIG.warmupS } = {}) {
  const run = { ...opts, connections: CONFIG.tcpConnections, pipelining: CONFIG.tcpInFlight };
  if (warmupS > 0) await tcpLoad({ ...run, durationS: warmupS });
  log(`measuring ${title} for ${durationS}s`);
  const stopRss = rssPid ? sampleRss(rssPid) : undefined;
  const result = await tcpLoad({ ...run, durationS });
  const rss = await stopRss?.();
  const problems = { errors: result.errors, mismatches: result.mismatches, timeouts: result.timeouts, socketErrors: result.socketErrors };
  const valid = result.ok > 0 && Object.values(problems).every((n) => n === 0);
  if (!valid) log(`${title}: INVALID: ${result.ok} ok, ${JSON.stringify(problems)}, first error ${JSON.stringify(result.firstError)}`);
  return {
    valid,
    ok2xx: result.ok,
    non2xx: result.errors + result.mismatches,
    ...problems,
    reqPerSec: result.reqPerSec,
    p50: result.latency.p50,
    p99: result.latency.p99,
    rss,
    raw: result,
  };
}

/** Logins spread over `n` seeded accounts: each request picks one at random. */
function randomAccountLogin(base, n) {
  return {
    url: base,
    connections: CONFIG.loginConnections,
    requests: [
      {
        method: 'POST',
        path: '/auth/login',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ email: `bench-user-${1 + Math.floor(Math.random() * n)}@example.com`, password: USER.password }),
        }),
      },
    ],
  };
}

const healthOptions = (base, path) => ({
  url: `${base}${path}`,
  connections: CONFIG.healthConnections,
  ...(CONFIG.healthRate > 0 ? { overallRate: CONFIG.healthRate } : {}),
});

// ---------------------------------------------------------------------------------------------
// Report

const fmtRate = (n) => (n === undefined ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
const fmtMs = (n) => (n === undefined ? '—' : n < 1 ? n.toFixed(2) : n < 10 ? n.toFixed(1) : n.toFixed(0));
const fmtMiB = (n) => (n === undefined ? '—' : n.toFixed(0));
const fmtInt = (n) => n.toLocaleString('en-US');
const fmtBytes = (n) => (n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`);
const check = (ok) => (ok ? '✓' : '✗');
const ratioOf = (a, b) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);

/**
 * One row per figure. `baseline` is what the row's key figure (req/s, p99 or RSS, per its `unit`)
 * is compared to, measured in the same run; `ratio` is figure / baseline.
 */
function buildRows(m) {
  const invalid = (r) => (r.valid ? '' : ' **INVALID**');
  const perSec = (value, of) => ({ value, unit: 'req/s', of });
  const p99Of = (value, of) => ({ value, unit: 'ms p99', of });
  const mib = (value, of) => ({ value, unit: 'MiB', of });
  const row = (measurement, r, extra = {}) => ({
    measurement,
    reqPerSec: r?.reqPerSec,
    p50: r?.p50,
    p99: r?.p99,
    rssMiB: undefined,
    baseline: null,
    ratio: undefined,
    target: '',
    ...extra,
  });
  const versus = (measurement, r, baseline, figure, target = () => '') => {
    const ratio = ratioOf(figure, baseline.value);
    return row(measurement, r, { baseline, ratio, target: target(ratio) });
  };
  const rssRow = (measurement, figure, baseline, target = '') =>
    row(measurement, undefined, { rssMiB: figure, baseline, ratio: ratioOf(figure, baseline.value), target });
  const atLeast = (r, goal) => (ratio) => `≥ ${goal} ${check(r.valid && ratio !== undefined && ratio >= goal)}`;
  const atMost = (figure, goal, unit) => `≤ ${goal} ${unit} ${check(figure !== undefined && figure <= goal)}`;
  const inFlight = `${CONFIG.tcpConnections} conn × ${CONFIG.tcpInFlight} in flight`;
  const together = `${Math.max(1, Math.floor(CONFIG.loginConnections / 4))} conn`;
  const health = `${CONFIG.healthConnections} conn${CONFIG.healthRate > 0 ? `, ${CONFIG.healthRate} req/s` : ''}`;
  const argon2 = perSec(m.argon2.perSecond, 'raw argon2id');
  const rss = {
    idle: m.rss.gatehouseIdle,
    login: m.login.rss?.peakMiB,
    me: m.me.rss?.peakMiB,
    after: m.rss.gatehouseIdleAfter,
  };

  return [
    ...[m.argon2Runs.pool4, m.argon2Runs.perCore].map((r) =>
      row(
        `argon2id verify, raw (${CONFIG.loginConnections} in flight, ${r.threadpoolSize} threads)${r === m.argon2 ? ': the login ceiling' : ''}`,
        { reqPerSec: r.perSecond, ...r.latency },
      ),
    ),
    versus(
      `POST /auth/login (${CONFIG.loginConnections} conn)${invalid(m.login)}`,
      m.login,
      argon2,
      m.login.reqPerSec,
      atLeast(m.login, TARGETS.login),
    ),
    row(
      `POST /auth/login (the row above), as PostgreSQL counted it: per login of an account without a second factor, ` +
        `${m.loginDatabase.totpReads.toFixed(2)} reads of mfa_totp (${fmtInt(m.loginDatabase.logins)} logins, warm-up included)`,
      undefined,
      { target: `≤ 1 indexed look-up for the gate ${check(m.loginDatabase.totpReads <= 1)}` },
    ),
    row(`POST /auth/login, wrong password → 401 (${CONFIG.loginConnections} conn)${invalid(m.wrongPassword)}`, m.wrongPassword),
    versus(
      `POST /auth/login, unknown user → 401 (${CONFIG.loginConnections} conn)${invalid(m.unknownUser)}`,
      m.unknownUser,
      perSec(m.wrongPassword.reqPerSec, 'wrong password'),
      m.unknownUser.reqPerSec,
      (ratio) => `≈ 1 (same cost) ${check(m.unknownUser.valid && ratio !== undefined && Math.abs(ratio - 1) <= 0.1)}`,
    ),
    versus(
      `POST /auth/login, random one of ${fmtInt(CONFIG.usersSmall)} seeded accounts (${CONFIG.loginConnections} conn)${invalid(m.loginSmall)}`,
      m.loginSmall,
      argon2,
      m.loginSmall.reqPerSec,
    ),
    versus(
      `POST /auth/login, random one of ${fmtInt(CONFIG.usersLarge)} seeded accounts (${CONFIG.loginConnections} conn)${invalid(m.loginLarge)}`,
      m.loginLarge,
      perSec(m.loginSmall.reqPerSec, `${fmtInt(CONFIG.usersSmall)} accounts`),
      m.loginLarge.reqPerSec,
      (ratio) =>
        `≥ ${TARGETS.tableSize} ${check(m.loginLarge.valid && ratio !== undefined && ratio >= TARGETS.tableSize)}; ` +
        `p99 ${ratioOf(m.loginLarge.p99, m.loginSmall.p99)?.toFixed(2) ?? '—'}× the ${fmtInt(CONFIG.usersSmall)}-account p99`,
    ),
    row(`GET /hello, bare Nest+Fastify (${CONFIG.connections} conn)${invalid(m.hello)}`, m.hello),
    versus(
      `GET /auth/me (${CONFIG.connections} conn)${invalid(m.me)}`,
      m.me,
      perSec(m.hello.reqPerSec, 'bare hello'),
      m.me.reqPerSec,
      atLeast(m.me, TARGETS.me),
    ),
    versus(
      `GET /orders, sibling app guarded offline by @gatehouse/client, installed from its tarball (${CONFIG.connections} conn)${invalid(m.sibling)}`,
      m.sibling,
      perSec(m.hello.reqPerSec, 'bare hello'),
      m.sibling.reqPerSec,
      atLeast(m.sibling, TARGETS.sibling),
    ),
    row(`token rotation in one statement straight through pg, no HTTP (${CONFIG.refreshConnections} chains): the database floor`, {
      reqPerSec: m.refreshFloor.perSecond,
      p50: m.refreshFloor.p50,
      p99: m.refreshFloor.p99,
    }),
    row('ES256 signature of an access token, one thread: the signing floor', {
      reqPerSec: m.signingFloor.perSecond,
      p50: m.signingFloor.p50,
      p99: m.signingFloor.p99,
    }),
    versus(
      `POST /auth/refresh, chained (${CONFIG.refreshConnections} conn)${invalid(m.refresh)}`,
      m.refresh,
      perSec(m.refreshFloor.perSecond, 'database floor'),
      m.refresh.reqPerSec,
      () =>
        `≥ ${fmtInt(TARGETS.refresh)} req/s ${check(m.refresh.valid && m.refresh.reqPerSec >= TARGETS.refresh)}; ` +
        `0 non-2xx ${check(m.refresh.valid)} (${m.refresh.non2xx})`,
    ),
    versus(
      `POST /auth/mfa/verify, TOTP, a fresh mfaToken each (${CONFIG.mfaConnections} conn)${invalid(m.mfaVerify)}`,
      m.mfaVerify,
      perSec(m.refreshRounds.reqPerSec, 'refresh: a session write and signatures, no hash, in alternating rounds'),
      m.mfaVerify.reqPerSec,
      () =>
        `≥ ${TARGETS.mfaVerify} req/s ${check(m.mfaVerify.valid && m.mfaVerify.reqPerSec >= TARGETS.mfaVerify)}; ` +
        `p99 ≤ ${TARGETS.mfaVerifyP99} ms ${check(m.mfaVerify.valid && m.mfaVerify.p99 <= TARGETS.mfaVerifyP99)}`,
    ),
    row(`echo over TCP, bare Nest microservice (${inFlight})${invalid(m.echo)}`, m.echo),
    versus(
      `auth.verify over TCP (${inFlight})${invalid(m.verify)}`,
      m.verify,
      perSec(m.echo.reqPerSec, 'bare TCP echo'),
      m.verify.reqPerSec,
      atLeast(m.verify, TARGETS.verify),
    ),
    row(`GET /health/live, alone (${health})${invalid(m.healthAlone.live)}`, m.healthAlone.live),
    row(`GET /health/ready, alone (${health})${invalid(m.healthAlone.ready)}`, m.healthAlone.ready),
    versus(
      `GET /health/live while ${CONFIG.loginConnections} logins saturate the hash pool${invalid(m.healthLoaded.live)}`,
      m.healthLoaded.live,
      p99Of(m.healthAlone.live.p99, 'alone'),
      m.healthLoaded.live.p99,
      () => atMost(m.healthLoaded.live.valid ? m.healthLoaded.live.p99 : undefined, TARGETS.healthSaturated, 'ms p99'),
    ),
    versus(
      `GET /health/ready while ${CONFIG.loginConnections} logins saturate the hash pool${invalid(m.healthLoaded.ready)}`,
      m.healthLoaded.ready,
      p99Of(m.healthAlone.ready.p99, 'alone'),
      m.healthLoaded.ready.p99,
      () => atMost(m.healthLoaded.ready.valid ? m.healthLoaded.ready.p99 : undefined, TARGETS.healthSaturated, 'ms p99'),
    ),
    ...Object.entries(m.flood).map(([transport, f]) =>
      versus(
        `GET /health/live while ${f.flood.requests} logins with ${fmtBytes(f.flood.valueBytes)} passwords arrive, ` +
          `${f.flood.concurrency} at a time, over ${transport === 'tcp' ? 'TCP (auth.login)' : 'HTTP'} ` +
          `(answered ${Object.entries(f.flood.statusCounts)
            .map(([status, n]) => `${status} ×${n}`)
            .join(', ')})${invalid(f)}`,
        f.health,
        p99Of(m.healthAlone.live.p99, 'alone'),
        f.health.p99,
        () => atMost(f.valid ? f.health.p99 : undefined, TARGETS.healthFlood, 'ms p99'),
      ),
    ),
    versus(
      `POST /auth/login while health is probed (${CONFIG.loginConnections} conn)${invalid(m.healthLoaded.login)}`,
      m.healthLoaded.login,
      perSec(m.login.reqPerSec, 'login alone'),
      m.healthLoaded.login.reqPerSec,
    ),
    row(
      `POST /auth/login, wrong password, native account (${together}, run together with the next three)${invalid(m.failed.native)}`,
      m.failed.native,
    ),
    ...[
      ['unknown user', m.failed.unknown],
      ['imported bcrypt cost 4', m.failed.bcrypt],
      ['imported argon2id m=4096 t=1', m.failed.argon2],
    ].map(([name, r]) =>
      versus(
        `POST /auth/login, wrong password, ${name} (${together}, together)${invalid(r)}`,
        r,
        perSec(m.failed.native.reqPerSec, 'native, together'),
        r.reqPerSec,
        (ratio) => `≈ 1 (same cost) ${check(r.valid && ratio !== undefined && Math.abs(ratio - 1) <= 0.1)}`,
      ),
    ),
    versus(
      `logout on A: B accepts the token until (${m.revocation.n} logouts; A refused at once ${m.revocation.refusedAtOnceByA}/${m.revocation.n}, ` +
        `B accepted after the logout's answer ${m.revocation.acceptedAfterLogout}/${m.revocation.n}; max ${fmtMs(m.revocation.max)} ms)`,
      { p50: m.revocation.p50, p99: m.revocation.p99 },
      p99Of(m.revocation.roundTrip.p99, 'one GET /auth/me on B'),
      m.revocation.p99,
    ),
    rssRow(
      'gatehouse RSS, idle after start',
      rss.idle,
      mib(m.rss.helloIdle, 'bare Nest app, idle'),
      atMost(rss.idle, TARGETS.rssIdle, 'MiB'),
    ),
    rssRow(
      `gatehouse RSS, peak under POST /auth/login load${invalid(m.login)}`,
      rss.login,
      mib(rss.idle, 'idle'),
      atMost(m.login.valid ? rss.login : undefined, TARGETS.rssLogin, 'MiB'),
    ),
    rssRow(`gatehouse RSS, peak under GET /auth/me load${invalid(m.me)}`, rss.me, mib(rss.idle, 'idle')),
    rssRow('gatehouse RSS, idle after all loads', rss.after, mib(rss.idle, 'idle')),
  ];
}

function fmtBaseline(b) {
  if (!b || b.value === undefined) return '—';
  const value = b.unit === 'req/s' ? fmtRate(b.value) : b.unit === 'MiB' ? fmtMiB(b.value) : fmtMs(b.value);
  return `${value} ${b.unit} (${b.of})`;
}

function markdownTable(rows) {
  const lines = [
    '| measurement | req/s | p50 ms | p99 ms | RSS MiB | baseline (same run) | ratio | target |',
    '|---|---:|---:|---:|---:|---|---:|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.measurement} | ${fmtRate(r.reqPerSec)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ${fmtMiB(r.rssMiB)} | ` +
        `${fmtBaseline(r.baseline)} | ${r.ratio === undefined ? '—' : r.ratio.toFixed(2)} | ${r.target || '—'} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

/** The server's version; also points out databases left behind by runs that were killed hard. */
async function inspectPostgres() {
  const admin = new pg.Client({ connectionString: CONFIG.adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'gatehouse\\_bench\\_%' ORDER BY datname`);
    if (rows.length > 0) {
      log(`databases left by earlier runs that were killed (drop them when no bench is running): ${rows.map((r) => r.datname).join(', ')}`);
    }
    return (await admin.query('SHOW server_version')).rows[0].server_version;
  } finally {
    await admin.end();
  }
}

async function main() {
  const cpus = os.cpus();
  const machine = {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: await inspectPostgres(),
    platform: `${os.platform()} ${os.release()}`,
    uvThreadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
    // On 2 cores any other busy process skews every figure; the load average makes that visible.
    loadAvgAtStart: os.loadavg()[0],
  };

  const databaseUrl = await createDatabase();
  const gatehouse = await startGatehouse(databaseUrl);
  // A second instance on the same database, for the revocation window only.
  const second = await startGatehouse(databaseUrl);
  const base = gatehouse.base;
  const hello = await startHello();
  const siblingBase = await startSibling(base);

  await postJson(`${base}/auth/register`, USER, 201);
  const { tokens, user } = await login(base);

  const m = {};
  m.rss = { gatehouseIdle: await idleRssMiB(gatehouse.pid), helloIdle: await idleRssMiB(hello.pid, 0) };
  log(`idle RSS: gatehouse ${fmtMiB(m.rss.gatehouseIdle)} MiB, bare hello ${fmtMiB(m.rss.helloIdle)} MiB`);

  const loginOptions = {
    ...jsonPost(base, '/auth/login'),
    connections: CONFIG.loginConnections,
    body: JSON.stringify({ email: USER.email, password: USER.password }),
  };
  const countersBeforeLogin = await databaseCounters(databaseUrl);
  m.login = await load('POST /auth/login', loginOptions, { rssPid: gatehouse.pid });
  const loginEnded = performance.now();
  // The service runs one hash per core at a time; the ceiling is the better of that and Node's default pool.
  // Measured after the login, while the database is left alone and the counters of the login come in.
  log(`measuring raw argon2id verify for ${CONFIG.durationS}s, on 4 threads and on ${os.availableParallelism()}`);
  const [pool4, perCore] = [await rawArgon2(4), await rawArgon2(os.availableParallelism())];
  m.argon2 = pool4.perSecond >= perCore.perSecond ? pool4 : perCore;
  m.argon2Runs = { pool4, perCore };
  m.loginDatabase = await perLogin(databaseUrl, countersBeforeLogin, loginEnded);
  // Wrong password and unknown user must cost the same (a dummy hash is verified on a miss).
  const failedLogin = (email, password) => ({
    ...jsonPost(base, '/auth/login'),
    connections: CONFIG.loginConnections,
    body: JSON.stringify({ email, password }),
  });
  m.wrongPassword = await load('POST /auth/login, wrong password', failedLogin(USER.email, 'not the password'), { expected: 401 });
  m.unknownUser = await load('POST /auth/login, unknown user', failedLogin(`nobody-${USER.email}`, 'not the password'), { expected: 401 });
  // Failed logins of every kind at the same time, sharing the machine alike: sequential runs drift
  // by more than the differences looked for.
  const legacy = await seedLegacyAccounts(databaseUrl, USER.password);
  const quarter = Math.max(1, Math.floor(CONFIG.loginConnections / 4));
  const failedSpec = (key, title, email) => ({
    key,
    title,
    expected: 401,
    opts: { ...failedLogin(email, 'not the password'), connections: quarter },
  });
  m.failed = await loadTogether([
    failedSpec('native', 'POST /auth/login, wrong password, native', USER.email),
    failedSpec('unknown', 'POST /auth/login, unknown user', `nobody-${USER.email}`),
    failedSpec('bcrypt', 'POST /auth/login, wrong password, imported bcrypt', legacy.bcrypt.email),
    failedSpec('argon2', 'POST /auth/login, wrong password, imported weak argon2', legacy.argon2.email),
  ]);
  log(`measuring the revocation window over ${CONFIG.revocations} logouts`);
  m.revocation = await revocationWindow(base, second.base, CONFIG.revocations);
  const bearer = { authorization: `Bearer ${tokens.accessToken}` };
  Object.assign(
    m,
    await alternating({
      hello: (durationS, warmupS) =>
        load('GET /hello', { url: `${hello.base}/hello`, connections: CONFIG.connections }, { durationS, warmupS }),
      me: (durationS, warmupS) =>
        load(
          'GET /auth/me',
          { url: `${base}/auth/me`, connections: CONFIG.connections, headers: bearer },
          { rssPid: gatehouse.pid, durationS, warmupS },
        ),
      sibling: (durationS, warmupS) =>
        load(
          'GET /orders on the sibling app',
          { url: `${siblingBase}/orders`, connections: CONFIG.connections, headers: bearer },
          { durationS, warmupS },
        ),
    }),
  );
  // Refresh alone, one load as long as the others, for its own target (#14); the rounds below
  // measure it again beside /auth/mfa/verify, as that row's baseline.
  const refreshLoad = (durationS, warmupS) =>
    load('POST /auth/refresh', async () => refreshOptions(base, await freshRefreshTokens(base, CONFIG.refreshConnections)), {
      durationS,
      warmupS,
    });
  log(`measuring POST /auth/refresh alone for ${CONFIG.durationS}s`);
  m.refresh = await refreshLoad(CONFIG.durationS, CONFIG.warmupS);
  // Every verify spends a seeded mfaToken: as many as the loads below can send at CONFIG.mfaRate.
  const mfaLoadS = CONFIG.warmupS + roundSeconds() * CONFIG.rounds;
  if (!mfaLoadFits(mfaLoadS))
    throw new Error(`mfaTokens live 5 minutes: ${mfaLoadS}s of /auth/mfa/verify load is too long for one seeding`);
  const mfaAccounts = Math.ceil(mfaLoadS * CONFIG.mfaRate);
  log(`seeding ${fmtInt(mfaAccounts)} accounts with a confirmed TOTP factor and an mfaToken each`);
  const mfaPool = await seedMfaChallenges({
    harness,
    databaseUrl,
    count: mfaAccounts,
    passwordHash: await storedHash(databaseUrl, USER.email),
  });
  log(`seeded them in ${mfaPool.seconds.toFixed(1)}s`);
  // Refresh is the baseline: also a session-level write and signatures, and no hash.
  Object.assign(
    m,
    await alternating({
      // Fresh chains for warmup and for each round: a chain cut off mid-request cannot be resumed.
      refreshRounds: refreshLoad,
      mfaVerify: (durationS, warmupS) =>
        load('POST /auth/mfa/verify', () => mfaVerifyOptions(base, mfaPool, CONFIG.mfaConnections), { durationS, warmupS }),
    }),
  );
  if (mfaPool.exhausted > 0) log(`POST /auth/mfa/verify ran out of mfaTokens ${mfaPool.exhausted} times: raise BENCH_MFA_RATE`);
  m.mfaSeeding = { accounts: mfaPool.seeded, seconds: mfaPool.seconds, used: mfaPool.used, exhausted: mfaPool.exhausted };
  // Gone before the table-size runs, which count the accounts in the table.
  m.mfaSeeding.removedS = await removeMfaAccounts(databaseUrl);
  log(`removed the accounts seeded for /auth/mfa/verify in ${m.mfaSeeding.removedS.toFixed(1)}s`);
  log(`measuring the refresh floors for ${CONFIG.durationS}s`);
  m.refreshFloor = await rotationFloor({
    databaseUrl,
    chains: CONFIG.refreshConnections,
    durationS: CONFIG.durationS,
    warmupS: CONFIG.warmupS,
  });
  m.signingFloor = signingFloor({ durationS: Math.min(CONFIG.durationS, 3) });

  // Same payload both ways, so the frames are the same size on the way in.
  const rpcData = { accessToken: tokens.accessToken };
  Object.assign(
    m,
    await alternating({
      echo: (durationS, warmupS) =>
        tcpMeasure(
          'echo over TCP (bare Nest)',
          { port: hello.rpcPort, pattern: 'echo', data: rpcData, check: (r) => r?.accessToken === tokens.accessToken },
          { durationS, warmupS },
        ),
      verify: (durationS, warmupS) =>
        tcpMeasure(
          'auth.verify over TCP',
          {
            port: gatehouse.rpcPort,
            pattern: 'auth.verify',
            data: rpcData,
            check: (r) => r?.userId === user.id && r?.user?.id === user.id,
          },
          { rssPid: gatehouse.pid, durationS, warmupS },
        ),
    }),
  );

  const live = { key: 'live', title: 'GET /health/live', opts: healthOptions(base, '/health/live') };
  const ready = { key: 'ready', title: 'GET /health/ready', opts: healthOptions(base, '/health/ready') };
  m.healthAlone = await loadTogether([live, ready]);
  m.healthLoaded = await loadTogether([live, ready, { key: 'login', title: 'POST /auth/login (saturating)', opts: loginOptions }], {
    rssPid: gatehouse.pid,
  });

  // Oversized logins are refused without parsing (HTTP 413) or at the frame gate (TCP): health must not notice.
  m.flood = {};
  for (const transport of ['http', 'tcp']) {
    log(`measuring /health/live while ${CONFIG.floodRequests} oversized logins arrive over ${transport}`);
    const f = await measureHealthUnderFlood({
      baseUrl: base,
      rpcPort: gatehouse.rpcPort,
      transport,
      requests: CONFIG.floodRequests,
      concurrency: CONFIG.floodConcurrency,
      valueBytes: CONFIG.floodBytes,
      healthRate: CONFIG.healthRate || 100,
    });
    const refusedOnly = Object.keys(f.flood.statusCounts).every((status) => ['400', '413'].includes(String(status)));
    const healthy = Object.keys(f.health.statusCounts).every((status) => String(status) === '200');
    f.valid = refusedOnly && healthy && f.health.count > 0;
    if (!f.valid)
      log(
        `flood over ${transport}: INVALID: flood ${JSON.stringify(f.flood.statusCounts)}, health ${JSON.stringify(f.health.statusCounts)}`,
      );
    m.flood[transport] = f;
  }

  // Table size: the same login load over 1,000 accounts, then over 1,000,000 (seeded in bulk).
  const passwordHash = await storedHash(databaseUrl, USER.email);
  const seeding = {};
  seeding.small = await seedUsers(databaseUrl, 1, CONFIG.usersSmall, passwordHash);
  m.loginSmall = await load(`POST /auth/login over ${CONFIG.usersSmall} accounts`, randomAccountLogin(base, CONFIG.usersSmall), {
    rssPid: gatehouse.pid,
  });
  seeding.large = await seedUsers(databaseUrl, CONFIG.usersSmall + 1, CONFIG.usersLarge, passwordHash);
  m.loginLarge = await load(`POST /auth/login over ${CONFIG.usersLarge} accounts`, randomAccountLogin(base, CONFIG.usersLarge), {
    rssPid: gatehouse.pid,
  });
  m.seeding = seeding;

  m.rss.gatehouseIdleAfter = await idleRssMiB(gatehouse.pid);
  machine.loadAvgAtEnd = os.loadavg()[0];

  const rows = buildRows(m);
  const table = markdownTable(rows);
  const seedLine =
    `Seeding: ${fmtInt(seeding.small.rows)} accounts in ${seeding.small.insertS.toFixed(2)} s, then ` +
    `${fmtInt(seeding.large.rows)} more in ${seeding.large.insertS.toFixed(1)} s ` +
    `(${fmtInt(Math.round(seeding.large.rows / seeding.large.insertS))} rows/s; one INSERT … SELECT generate_series with a precomputed ` +
    `argon2id hash, three unique indexes maintained; ${seeding.large.totalS.toFixed(1)} s with VACUUM ANALYZE and CHECKPOINT). ` +
    `For /auth/mfa/verify: ${fmtInt(m.mfaSeeding.accounts)} accounts with a confirmed TOTP factor and an mfaToken each in ` +
    `${m.mfaSeeding.seconds.toFixed(1)} s, ${fmtInt(m.mfaSeeding.used)} of them used.`;
  const machineLine =
    `Machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB RAM, node ${machine.node}, ` +
    `PostgreSQL ${machine.postgres}, libuv threadpool ${machine.uvThreadpoolSize} (hashes at most ${machine.cores} at a time); ${CONFIG.durationS}s per measurement after ${CONFIG.warmupS}s warmup; ` +
    `1-min load average ${machine.loadAvgAtStart.toFixed(2)} before, ${machine.loadAvgAtEnd.toFixed(2)} after (the bench itself adds ~2).`;
  const measured = {
    login: m.login,
    wrongPassword: m.wrongPassword,
    unknownUser: m.unknownUser,
    failedNative: m.failed.native,
    failedUnknown: m.failed.unknown,
    failedBcrypt: m.failed.bcrypt,
    failedArgon2: m.failed.argon2,
    loginSmall: m.loginSmall,
    loginLarge: m.loginLarge,
    hello: m.hello,
    me: m.me,
    sibling: m.sibling,
    refresh: m.refresh,
    refreshRounds: m.refreshRounds,
    mfaVerify: m.mfaVerify,
    echo: m.echo,
    verify: m.verify,
    healthLive: m.healthAlone.live,
    healthReady: m.healthAlone.ready,
    healthLiveLoaded: m.healthLoaded.live,
    healthReadyLoaded: m.healthLoaded.ready,
    loginWithHealth: m.healthLoaded.login,
  };
  const checks = Object.entries(measured)
    .map(([k, r]) => `${k}: ${r.ok2xx} as expected, ${r.non2xx} other, ${r.errors} errors, ${r.timeouts} timeouts`)
    .join('; ');
  const valid = Object.values(measured).every((r) => r.valid) && Object.values(m.flood).every((f) => f.valid);
  const quickNote = CONFIG.quick ? '**Quick smoke run (BENCH_QUICK): short loads and a small table; not figures to publish.**\n' : '';

  process.stdout.write(`\n${quickNote}${table}\n\n${machineLine}\n${seedLine}\nChecks: ${checks}\n`);
  if (!valid) process.stdout.write('**Some measurements are INVALID (unexpected answers or errors); their figures mean nothing.**\n');

  const resultsDir = join(BENCH_DIR, 'results');
  await mkdir(resultsDir, { recursive: true });
  const raw = Object.fromEntries(
    Object.entries({
      ...measured,
      argon2: m.argon2Runs.pool4,
      argon2PerCore: m.argon2Runs.perCore,
      refreshFloor: m.refreshFloor,
      signingFloor: m.signingFloor,
    }).map(([k, v]) => [k, { ...v, raw: undefined, detail: v.raw }]),
  );
  await writeFile(
    join(resultsDir, 'latest.json'),
    `${JSON.stringify(
      {
        finishedAt: new Date().toISOString(),
        machine,
        config: { ...CONFIG, adminUrl: undefined },
        targets: TARGETS,
        valid,
        rows,
        rss: m.rss,
        flood: m.flood,
        seeding: { ...seeding, mfa: m.mfaSeeding },
        loginDatabase: m.loginDatabase,
        markdown: `${machineLine}\n\n${table}\n\n${seedLine}\n`,
        measurements: raw,
      },
      null,
      2,
    )}\n`,
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
  await harness.cleanup();
}
process.exit(exitCode);
