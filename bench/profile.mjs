// CPU profiles of the hot paths, one at a time: for each path the built service is started on its
// own with `node --cpu-prof`, loaded as the bench loads it (after a warm-up), and stopped with
// SIGTERM so V8 writes the profile; the samples taken during the measured load are then summarised
// per area, package and function (bench/cpuprofile.mjs), per request served. The CPU of every
// thread of the service, of PostgreSQL and of the load generator is read from /proc over the same
// window: the profile only samples the main thread, so argon2 (on the libuv pool) is not in it.
//
//   me       GET /auth/me with a bearer token (the cached path: no database round trip)
//   verify   auth.verify over TCP (the same token check, Nest's TCP transport)
//   refresh  POST /auth/refresh over chained single-use tokens, one chain per connection
//   login    POST /auth/login, one account (the main-thread, non-hash part of a login)
//   hello    the bare Nest+Fastify GET /hello of bench/hello-app.mjs, the floor of /auth/me
//   echo     its bare `echo` pattern over TCP, the floor of auth.verify
//
// Usage: npm run bench:profile                 (builds first; every path, floors included)
//        npm run bench:profile -- me refresh   (only these)
// Knobs: PROFILE_DURATION (10 s), PROFILE_WARMUP (2 s), PROFILE_INTERVAL_US (sampling interval,
// 1000), PROFILE_TOP (rows per table, 15), PROFILE_LOGIN_CONNECTIONS (1, see below); the other
// loads take BENCH_CONNECTIONS, BENCH_REFRESH_CONNECTIONS, BENCH_TCP_CONNECTIONS, BENCH_TCP_IN_FLIGHT
// and BENCH_DATABASE_ADMIN_URL as `npm run bench` does. Needs Linux for the per-thread CPU (/proc).
// Writes bench/results/profile/<path>.{cpuprofile,json,txt}; the .cpuprofile opens in Chrome
// DevTools (Performance) or speedscope.
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

import { formatSummary, summarizeProfile } from './cpuprofile.mjs';
import {
  BENCH_DIR,
  DEFAULT_ADMIN_URL,
  freshRefreshTokens,
  Harness,
  jsonPost,
  login,
  nonNegativeInt,
  positiveInt,
  postJson,
  refreshOptions,
  stopChild,
  stopHello,
  USER,
} from './harness.mjs';
import { tcpLoad } from './tcp-load.mjs';

const CONFIG = {
  adminUrl: process.env.BENCH_DATABASE_ADMIN_URL || DEFAULT_ADMIN_URL,
  durationS: positiveInt('PROFILE_DURATION', 10),
  warmupS: nonNegativeInt('PROFILE_WARMUP', 2),
  intervalUs: positiveInt('PROFILE_INTERVAL_US', 1000),
  top: positiveInt('PROFILE_TOP', 15),
  connections: positiveInt('BENCH_CONNECTIONS', 10),
  // One login at a time by default: with the bench's 8, the hash threads keep both cores busy, the
  // main thread waits for a core (preempted) for much of its time, and a wall-clock sampler counts
  // that wait against whatever frame it was in (mostly the socket writes that woke a peer).
  loginConnections: positiveInt('PROFILE_LOGIN_CONNECTIONS', 1),
  refreshConnections: positiveInt('BENCH_REFRESH_CONNECTIONS', 8),
  tcpConnections: positiveInt('BENCH_TCP_CONNECTIONS', 4),
  tcpInFlight: positiveInt('BENCH_TCP_IN_FLIGHT', 4),
};

const RESULTS_DIR = join(BENCH_DIR, 'results', 'profile');
/** As long as one of our ES256 access tokens, for the echo floor's payload. */
const ECHO_TOKEN = `${'e'.repeat(36)}.${'p'.repeat(330)}.${'s'.repeat(86)}`;

const log = (msg) => process.stderr.write(`[profile] ${msg}\n`);
const harness = new Harness(log);
harness.installSignalHandlers();

// ---------------------------------------------------------------------------------------------
// The loads. Each `start` does its preparation (logins, token chains) before the measured window
// and returns the load itself, which resolves with `{ requests, valid, reqPerSec, detail }`.

/** Every response must be a 2xx; anything else makes the profile one of a different path. */
async function httpLoad(opts) {
  const result = await autocannon(opts);
  const valid = result['2xx'] > 0 && result.non2xx === 0 && result.errors === 0 && result.timeouts === 0;
  if (!valid)
    log(
      `${opts.title ?? opts.url}: INVALID: ${result['2xx']} 2xx, ${result.non2xx} other, ${result.errors} errors, ${result.timeouts} timeouts`,
    );
  return {
    requests: result.requests.total,
    valid,
    reqPerSec: result.requests.average,
    detail: {
      ok2xx: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      p50: result.latency.p50,
      p99: result.latency.p99,
    },
  };
}

/** Nest's TCP framing (bench/tcp-load.mjs); every answer must pass `check`. */
const messageLoad = ({ title, port, pattern, data, check, durationS }) => {
  const opts = { port, pattern, data, check, connections: CONFIG.tcpConnections, pipelining: CONFIG.tcpInFlight, durationS };
  return async () => {
    const r = await tcpLoad(opts);
    const valid = r.ok > 0 && r.errors === 0 && r.mismatches === 0 && r.timeouts === 0 && r.socketErrors === 0;
    if (!valid) log(`${title}: INVALID: ${r.ok} ok, first error ${JSON.stringify(r.firstError)}`);
    return { requests: r.completed, valid, reqPerSec: r.reqPerSec, detail: r };
  };
};

const PATHS = {
  me: {
    title: `GET /auth/me, bearer token (${CONFIG.connections} conn)`,
    async start(service, durationS) {
      const { tokens } = await login(service.base);
      const opts = {
        url: `${service.base}/auth/me`,
        connections: CONFIG.connections,
        headers: { authorization: `Bearer ${tokens.accessToken}` },
        duration: durationS,
      };
      return () => httpLoad(opts);
    },
  },
  verify: {
    title: `auth.verify over TCP (${CONFIG.tcpConnections} conn × ${CONFIG.tcpInFlight} in flight)`,
    async start(service, durationS) {
      const { tokens, user } = await login(service.base);
      return messageLoad({
        title: 'auth.verify',
        port: service.rpcPort,
        pattern: 'auth.verify',
        data: { accessToken: tokens.accessToken },
        check: (r) => r?.userId === user.id && r?.user?.id === user.id,
        durationS,
      });
    },
  },
  refresh: {
    title: `POST /auth/refresh, chained (${CONFIG.refreshConnections} conn)`,
    async start(service, durationS) {
      // Fresh chains each time: a chain cut off mid-request cannot be resumed.
      const tokens = await freshRefreshTokens(service.base, CONFIG.refreshConnections);
      const opts = { ...refreshOptions(service.base, tokens), duration: durationS };
      return () => httpLoad(opts);
    },
  },
  login: {
    title: `POST /auth/login (${CONFIG.loginConnections} conn)`,
    start(service, durationS) {
      const opts = {
        ...jsonPost(service.base, '/auth/login'),
        connections: CONFIG.loginConnections,
        body: JSON.stringify({ email: USER.email, password: USER.password }),
        duration: durationS,
      };
      return Promise.resolve(() => httpLoad(opts));
    },
  },
  hello: {
    title: `GET /hello, bare Nest+Fastify (${CONFIG.connections} conn)`,
    app: 'hello',
    start(app, durationS) {
      return Promise.resolve(() => httpLoad({ url: `${app.base}/hello`, connections: CONFIG.connections, duration: durationS }));
    },
  },
  echo: {
    title: `echo over TCP, bare Nest microservice (${CONFIG.tcpConnections} conn × ${CONFIG.tcpInFlight} in flight)`,
    app: 'hello',
    start(app, durationS) {
      // The same payload as auth.verify's, so the frames are the same size on the way in.
      const data = { accessToken: ECHO_TOKEN };
      return Promise.resolve(
        messageLoad({ title: 'echo', port: app.rpcPort, pattern: 'echo', data, check: (r) => r?.accessToken === ECHO_TOKEN, durationS }),
      );
    },
  },
};

// ---------------------------------------------------------------------------------------------
// CPU per thread, from /proc (Linux): utime + stime in clock ticks.

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of /proc/<path>/stat, in ticks; undefined when unreadable. */
async function cpuTicks(path) {
  try {
    const stat = await readFile(`/proc/${path}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [user, system] = [Number(fields[11]), Number(fields[12])];
    return { comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ticks: user + system, system };
  } catch {
    return undefined;
  }
}

async function cpuSnapshot(pid) {
  const threads = new Map();
  let mainSystem = 0;
  try {
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const t = await cpuTicks(`${pid}/task/${tid}`);
      if (t) threads.set(Number(tid), t.ticks);
      if (t && Number(tid) === pid) mainSystem = t.system;
    }
  } catch {
    // Not Linux, or the process is gone: no per-thread figures.
  }
  let postgres = 0;
  try {
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const p = await cpuTicks(entry);
      if (p?.comm === 'postgres') postgres += p.ticks;
    }
  } catch {
    // As above.
  }
  return { threads, mainSystem, postgres, self: process.cpuUsage() };
}

/** CPU used between two snapshots, in ms and µs per request: the main thread, each other thread, PostgreSQL, the load generator. */
function cpuBetween(pid, before, after, requests) {
  const msOf = (ticks) => (ticks * 1000) / ticksPerSecond();
  const perReq = (ms) => (requests > 0 ? (ms * 1000) / requests : undefined);
  const threads = [...after.threads]
    .map(([tid, ticks]) => ({ tid, ms: msOf(ticks - (before.threads.get(tid) ?? 0)) }))
    .filter((t) => t.ms > 0 || t.tid === pid)
    .sort((a, b) => (a.tid === pid ? -1 : b.tid === pid ? 1 : b.ms - a.ms));
  const main = threads.find((t) => t.tid === pid)?.ms ?? 0;
  // The kernel's share: mostly socket reads and writes (on loopback, delivering to the peer too).
  const mainSystem = msOf(after.mainSystem - before.mainSystem);
  const others = threads.filter((t) => t.tid !== pid);
  const otherMs = others.reduce((sum, t) => sum + t.ms, 0);
  const postgresMs = msOf(after.postgres - before.postgres);
  const selfMs = (after.self.user - before.self.user + after.self.system - before.self.system) / 1000;
  return {
    resolutionMs: 1000 / ticksPerSecond(),
    serviceMs: main + otherMs,
    mainThreadMs: main,
    mainThreadSystemMs: mainSystem,
    otherThreadsMs: otherMs,
    otherThreads: others.map((t) => ({ ...t, usPerRequest: perReq(t.ms) })),
    postgresMs,
    loadGeneratorMs: selfMs,
    usPerRequest: {
      service: perReq(main + otherMs),
      mainThread: perReq(main),
      mainThreadSystem: perReq(mainSystem),
      otherThreads: perReq(otherMs),
      postgres: perReq(postgresMs),
      loadGenerator: perReq(selfMs),
    },
  };
}

// ---------------------------------------------------------------------------------------------

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const f1 = (n) => (n === undefined ? '—' : n.toFixed(1));

async function profilePath(name, databaseUrl) {
  const spec = PATHS[name];
  const profileDir = await mkdtemp(join(os.tmpdir(), `gatehouse-profile-${name}-`));
  harness.onCleanup(() => rm(profileDir, { recursive: true, force: true }));
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${CONFIG.intervalUs}`];
  const service =
    spec.app === 'hello'
      ? await harness.startHello({ name: `hello:${name}`, nodeArgs })
      : await harness.startGatehouse(databaseUrl, { name: `gatehouse:${name}`, nodeArgs });
  if (CONFIG.warmupS > 0) {
    log(`${name}: warming up for ${CONFIG.warmupS}s`);
    await (
      await spec.start(service, CONFIG.warmupS)
    )();
  }
  const run = await spec.start(service, CONFIG.durationS);
  log(`${name}: profiling ${spec.title} for ${CONFIG.durationS}s`);
  const loadAvgBefore = os.loadavg()[0];
  const before = await cpuSnapshot(service.pid);
  const from = nowUs();
  const load = await run();
  const to = nowUs();
  const after = await cpuSnapshot(service.pid);
  const cpu = cpuBetween(service.pid, before, after, load.requests);

  // The service drains and exits on SIGTERM (the hello app when its IPC channel closes), and V8
  // writes the profile on the way out.
  await (spec.app === 'hello' ? stopHello : stopChild)(service.child, { timeoutMs: 60_000 });
  if (service.child.exitCode !== 0) log(`${name}: the service exited with ${service.child.exitCode ?? service.child.signalCode}`);
  const [file] = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`${name}: no .cpuprofile written (did the service exit cleanly?)`);
  const profile = JSON.parse(await readFile(join(profileDir, file), 'utf8'));
  await copyFile(join(profileDir, file), join(RESULTS_DIR, `${name}.cpuprofile`));
  // Check that the profile's clock is the one the window was taken on (CLOCK_MONOTONIC on Linux).
  if (!(profile.startTime < from && profile.endTime > to)) {
    throw new Error(`${name}: the profile (${profile.startTime}–${profile.endTime} µs) does not cover the window (${from}–${to} µs)`);
  }
  const summary = summarizeProfile(profile, { from, to, requests: load.requests, top: Math.max(CONFIG.top, 25) });

  const title = `${spec.title}: ${load.requests} requests in ${CONFIG.durationS}s, ${f1(load.reqPerSec)} req/s under the profiler${load.valid ? '' : ' (INVALID: unexpected answers)'}`;
  const others = cpu.otherThreads
    .filter((t) => t.ms >= cpu.resolutionMs)
    .map((t) => f1(t.usPerRequest))
    .join(', ');
  const cpuText = [
    `Process CPU over the window (/proc, ${cpu.resolutionMs} ms resolution): service ${f1(cpu.usPerRequest.service)} µs/request = ` +
      `main thread ${f1(cpu.usPerRequest.mainThread)} (user ${f1(cpu.usPerRequest.mainThread - cpu.usPerRequest.mainThreadSystem)}, kernel ${f1(cpu.usPerRequest.mainThreadSystem)}; ` +
      `profile: busy ${f1(summary.busyUsPerRequest)}, less socket writes ${f1(summary.busyUsPerRequest - summary.socketWritesUsPerRequest)}) + other threads ${f1(cpu.usPerRequest.otherThreads)}` +
      (others ? ` (each: ${others})` : ''),
    `PostgreSQL (every postgres process on the machine) ${f1(cpu.usPerRequest.postgres)} µs/request; load generator ${f1(cpu.usPerRequest.loadGenerator)} µs/request; ` +
      `1-min load average ${loadAvgBefore.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after`,
  ].join('\n');
  const text = `${formatSummary(summary, { title, top: CONFIG.top })}\n\n${cpuText}\n`;
  await writeFile(join(RESULTS_DIR, `${name}.txt`), text);
  await writeFile(
    join(RESULTS_DIR, `${name}.json`),
    `${JSON.stringify({ path: name, title: spec.title, finishedAt: new Date().toISOString(), config: { ...CONFIG, adminUrl: undefined }, load, cpu, summary }, null, 2)}\n`,
  );
  return text;
}

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in PATHS));
  if (unknown.length > 0) throw new Error(`unknown path(s) ${unknown.join(', ')}; choose from ${Object.keys(PATHS).join(', ')}`);
  const selected = names.length > 0 ? names : Object.keys(PATHS);
  await mkdir(RESULTS_DIR, { recursive: true });
  const cpus = os.cpus();
  const machine =
    `Machine: ${cpus.length} cores, ${cpus[0]?.model.trim() ?? 'unknown'}, node ${process.version}, ` +
    `libuv threadpool ${Number(process.env.UV_THREADPOOL_SIZE) || 4}; sampling every ${CONFIG.intervalUs} µs; ` +
    `${CONFIG.durationS}s per path after ${CONFIG.warmupS}s warm-up.`;
  process.stdout.write(`${machine}\n`);

  const databaseUrl = await harness.createDatabase(CONFIG.adminUrl, 'gatehouse_profile');
  let registered = false;
  for (const name of selected) {
    if (!registered && PATHS[name].app !== 'hello') {
      // Through a service of its own, so that no profile contains the registration.
      const setup = await harness.startGatehouse(databaseUrl, { name: 'gatehouse:setup' });
      await postJson(`${setup.base}/auth/register`, USER, 201);
      await stopChild(setup.child);
      registered = true;
    }
    const text = await profilePath(name, databaseUrl);
    process.stdout.write(`\n${text}`);
  }
  log(`wrote ${selected.map((n) => `bench/results/profile/${n}.{cpuprofile,json,txt}`).join(', ')}`);
}

let exitCode;
try {
  await main();
  exitCode = 0;
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  exitCode = 1;
} finally {
  await harness.cleanup();
}
process.exit(exitCode);
