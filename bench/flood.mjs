// Health probes while a flood of oversized logins arrives: does the service stay responsive while
// it refuses them? A flood is `requests` logins whose password (or email, or username: `field`) is
// `valueBytes` bytes long, at most `concurrency` in flight, each on a connection of its own (HTTP
// with Content-Length, HTTP chunked, or the `auth.login` message pattern over TCP in Nest's framing);
// meanwhile `GET <healthPath>` is probed on one keep-alive connection at `healthRate` req/s, as a
// load balancer does, from a thread of its own.
//
// measureHealthUnderFlood() is what bench/run.mjs can call against a running service; run alone,
//   npm run bench:flood      (builds first; knobs: FLOOD_REQUESTS 60, FLOOD_CONCURRENCY 20,
//                             FLOOD_BYTES "1048576,61440", FLOOD_FIELD password|email|username,
//                             FLOOD_CHAR a, FLOOD_TRANSPORTS "http,http-chunked,tcp",
//                             FLOOD_HEALTH_PATHS "/health/live,/health/ready", FLOOD_HEALTH_RATE 100,
//                             FLOOD_REPEAT 1, FLOOD_LOG_LEVEL, FLOOD_NODE_ARGS, FLOOD_JSON=1)
// starts the built service on a database of its own (created and dropped, as the bench does), with
// its event-loop delay reported over IPC (bench/loop-delay.mjs), and prints a table and the figures.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { BENCH_DIR, DEFAULT_ADMIN_URL, Harness, nonNegativeInt, percentile, positiveInt, postJson, USER } from './harness.mjs';
import { FrameReader } from './tcp-load.mjs';

export const MIB = 1024 * 1024;
/** Preload it into the service (`nodeArgs: ['--import', LOOP_DELAY]`) for its event-loop delay: see loopDelay(). */
export const LOOP_DELAY = pathToFileURL(`${BENCH_DIR}/loop-delay.mjs`).href;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n) => (n === undefined ? undefined : Math.round(n * 100) / 100);

function summary(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1)),
  };
}

const countInto = (counts, key) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** A string of exactly `bytes` UTF-8 bytes made of `char` (one code point, repeated; the rest in 'a'). */
export function oversizedValue(bytes, char = 'a') {
  const size = Buffer.byteLength(char, 'utf8');
  const repeats = Math.floor(bytes / size);
  return char.repeat(repeats) + 'a'.repeat(bytes - repeats * size);
}

/**
 * `GET path` on one keep-alive connection, one request at a time, started every 1000/rate ms (at
 * once when the previous answer came later), until `stop()` is called. Latency is from send to the
 * end of the answer. Resolves with `{ latencies, statusCounts }`.
 */
function probeHere(baseUrl, path, rate) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies = [];
  const statusCounts = {};
  let running = true;
  const interval = rate > 0 ? 1000 / rate : 0;
  const one = () =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = http.get(new URL(path, baseUrl), { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - started);
          countInto(statusCounts, String(res.statusCode));
          resolve();
        });
      });
      req.on('error', (error) => {
        countInto(statusCounts, error.code ?? 'error');
        resolve();
      });
    });
  const done = (async () => {
    let next = performance.now();
    while (running) {
      await one();
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
    agent.destroy();
    return { latencies, statusCounts };
  })();
  return {
    stop: () => {
      running = false;
      return done;
    },
  };
}

/**
 * The probe on a thread of its own: the flood's generator (building and writing megabytes) must not
 * delay the probe's own event loop, or the figures would be the generator's, not the service's.
 */
function probe(baseUrl, path, rate) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'health-probe', baseUrl, path, rate } });
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const started = new Promise((resolve) => worker.once('online', resolve));
  return {
    started,
    stop: async () => {
      worker.postMessage('stop');
      const value = await result;
      await worker.terminate();
      return value;
    },
  };
}

if (!isMainThread && workerData?.role === 'health-probe') {
  const running = probeHere(workerData.baseUrl, workerData.path, workerData.rate);
  parentPort.once('message', async () => parentPort.postMessage(await running.stop()));
}

/** One POST over a connection of its own; resolves with the status (or the socket error's code) and the body's first bytes. */
function postOnce(baseUrl, path, body, { chunked, chunkBytes }) {
  return new Promise((resolve) => {
    const url = new URL(path, baseUrl);
    const headers = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = String(body.length);
    const req = http.request(url, { method: 'POST', agent: false, headers });
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    req.on('response', (res) => {
      const parts = [];
      res.on('data', (part) => parts.length < 4 && parts.push(part));
      res.on('end', () => settle({ status: String(res.statusCode), body: Buffer.concat(parts).toString('utf8').slice(0, 300) }));
      res.on('error', (error) => settle({ status: error.code ?? 'error' }));
    });
    // The service may answer and close before the whole body is sent: the answer is what counts.
    req.on('error', (error) => setTimeout(() => settle({ status: error.code ?? 'error' }), 50));
    (async () => {
      for (let offset = 0; offset < body.length && !req.destroyed; offset += chunkBytes) {
        if (!req.write(body.subarray(offset, offset + chunkBytes))) {
          await new Promise((resume) => {
            req.once('drain', resume);
            req.once('close', resume);
          });
        }
      }
      req.end();
    })().catch(() => undefined);
  });
}

/** Sends `count` `auth.login` messages one after another on one TCP connection; outcome per message. */
function tcpLogins(host, port, data, count, timeoutMs) {
  return new Promise((resolve) => {
    const outcomes = [];
    const socket = connect({ host, port, noDelay: true });
    let sentAt = 0;
    let n = 0;
    let current;
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const dataJson = JSON.stringify(data);
    const send = () => {
      current = `flood:${n++}`;
      sentAt = performance.now();
      // The data's JSON is built once per connection: the generator's own work stays small.
      const json = `{"pattern":"auth.login","data":${dataJson},"id":"${current}"}`;
      socket.write(`${json.length}#${json}`);
    };
    const reader = new FrameReader((packet) => {
      if (packet.id !== current || (packet.err === undefined && !packet.isDisposed)) return;
      const status = packet.err === undefined ? 'ok' : String(packet.err.statusCode ?? packet.err.code ?? 'error');
      outcomes.push({ status, latency: performance.now() - sentAt, body: JSON.stringify(packet.err ?? packet.response).slice(0, 300) });
      current = undefined;
      if (n < count) send();
      else socket.end();
    });
    socket.once('connect', send);
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      if (current !== undefined) outcomes.push({ status: 'closed', latency: performance.now() - sentAt });
      // Messages never sent because the connection closed are not counted as answered.
      for (let i = n; i < count; i++) outcomes.push({ status: 'not sent' });
      resolve(outcomes);
    });
  });
}

// USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK).
const TICKS_PER_SECOND = 100;

/** CPU time of a process so far, in ms (user, system), from /proc; undefined where there is none. */
export async function processCpu(pid) {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: (Number(fields[11]) * 1000) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

const cpuSince = (before, after) =>
  before && after ? { userMs: Math.round(after.user - before.user), systemMs: Math.round(after.system - before.system) } : undefined;

/** Asks a child started with bench/loop-delay.mjs for its event-loop delay (and resets it); undefined without one. */
export function loopDelay(child, { reset = true, timeoutMs = 2000 } = {}) {
  if (!child?.connected) return Promise.resolve(undefined);
  const id = `${process.pid}:${performance.now()}`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      resolve(undefined);
    }, timeoutMs);
    const onMessage = (message) => {
      if (message?.type !== 'loop-delay' || message.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      const { p50, p99, max, count } = message;
      resolve({ p50, p99, max, count });
    };
    child.on('message', onMessage);
    child.send({ type: 'loop-delay', id, reset });
  });
}

/**
 * Probes `healthPath` while a flood of logins with an oversized value arrives. Options: `baseUrl`
 * (required), `rpcPort` and `rpcHost` (for 'tcp'), `transport` ('http' with Content-Length,
 * 'http-chunked' or 'tcp'), `requests` (60), `concurrency` (20), `valueBytes` (1 MiB) of `valueChar`
 * ('a') in `field` ('password', 'email' or 'username'), `email` (the account tried), `healthPath`
 * ('/health/live'), `healthRate` (100 req/s, 0: as fast as it answers), `settleMs` (500: probed
 * before and after the flood too, so its tail is inside the window), `child` (the service process,
 * when started with bench/loop-delay.mjs preloaded: adds its event-loop delay and CPU time).
 * Resolves with, in milliseconds:
 * `{ health: { p50, p99, max, count, statusCounts, path, rate }, flood: { transport, field, requests,
 * concurrency, valueBytes, statusCounts, latency: { p50, p99, max, count }, elapsedMs, serviceCpu?,
 * generatorCpu, sample }, loopDelay? }`. A flood request the service closed before its answer was
 * read counts under the socket error's code (EPIPE, ECONNRESET).
 */
export async function measureHealthUnderFlood({
  baseUrl,
  rpcHost = '127.0.0.1',
  rpcPort,
  transport = 'http',
  requests = 60,
  concurrency = 20,
  valueBytes = MIB,
  valueChar = 'a',
  field = 'password',
  email = USER.email,
  healthPath = '/health/live',
  healthRate = 100,
  settleMs = 500,
  chunkBytes = 64 * 1024,
  timeoutMs = 60_000,
  child,
}) {
  if (transport === 'tcp' && !rpcPort) throw new Error('transport "tcp" needs rpcPort');
  // The oversized value goes in `field`: the password, or the email or username beside a short password.
  const oversized = oversizedValue(valueBytes, valueChar);
  const fields =
    field === 'password'
      ? { email, password: oversized }
      : field === 'email'
        ? { email: `${oversized}@example.com`, password: USER.password }
        : { username: oversized, password: USER.password };
  const body = Buffer.from(JSON.stringify(fields));
  await loopDelay(child);
  const health = probe(baseUrl, healthPath, healthRate);
  await health.started;
  await sleep(settleMs);

  const outcomes = [];
  const serviceBefore = child ? await processCpu(child.pid) : undefined;
  const generatorBefore = process.cpuUsage();
  const started = performance.now();
  if (transport === 'tcp') {
    const perConnection = Array.from(
      { length: concurrency },
      (_, i) => Math.floor(requests / concurrency) + (i < requests % concurrency ? 1 : 0),
    );
    const results = await Promise.all(perConnection.filter((n) => n > 0).map((n) => tcpLogins(rpcHost, rpcPort, fields, n, timeoutMs)));
    outcomes.push(...results.flat());
  } else {
    const chunked = transport === 'http-chunked';
    let next = 0;
    const worker = async () => {
      while (next < requests) {
        next++;
        const sentAt = performance.now();
        const outcome = await postOnce(baseUrl, '/auth/login', body, { chunked, chunkBytes });
        outcomes.push({ ...outcome, latency: performance.now() - sentAt });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  }
  const elapsedMs = performance.now() - started;
  const serviceCpu = cpuSince(serviceBefore, child ? await processCpu(child.pid) : undefined);
  const generator = process.cpuUsage(generatorBefore);

  await sleep(settleMs);
  const probed = await health.stop();
  const statusCounts = {};
  for (const outcome of outcomes) countInto(statusCounts, outcome.status);
  return {
    health: { ...summary(probed.latencies), statusCounts: probed.statusCounts, path: healthPath, rate: healthRate },
    flood: {
      transport,
      field,
      requests,
      concurrency,
      valueBytes,
      statusCounts,
      latency: summary(outcomes.filter((o) => o.latency !== undefined).map((o) => o.latency)),
      elapsedMs: round(elapsedMs),
      // CPU spent during the flood by the service (the probe's requests included) and by this process.
      serviceCpu,
      generatorCpu: { userMs: Math.round(generator.user / 1000), systemMs: Math.round(generator.system / 1000) },
      sample: outcomes.find((o) => o.body)?.body,
    },
    loopDelay: await loopDelay(child),
  };
}

/** Health alone on the same terms, for the baseline: `{ p50, p99, max, count, statusCounts }`. */
export async function measureHealthAlone({ baseUrl, healthPath = '/health/live', healthRate = 100, durationMs = 3000, child }) {
  await loopDelay(child);
  const health = probe(baseUrl, healthPath, healthRate);
  await health.started;
  await sleep(durationMs);
  const probed = await health.stop();
  return { health: { ...summary(probed.latencies), statusCounts: probed.statusCounts }, loopDelay: await loopDelay(child) };
}

const fmt = (n) => (n === undefined ? '—' : String(n));

async function main() {
  const harness = new Harness((line) => process.stderr.write(`[flood] ${line}\n`));
  harness.installSignalHandlers();
  const transports = (process.env.FLOOD_TRANSPORTS ?? 'http,http-chunked,tcp').split(',').filter(Boolean);
  const paths = (process.env.FLOOD_HEALTH_PATHS ?? '/health/live,/health/ready').split(',').filter(Boolean);
  const sizes = (process.env.FLOOD_BYTES ?? `${MIB},${60 * 1024}`).split(',').map(Number);
  const options = {
    requests: positiveInt('FLOOD_REQUESTS', 60),
    concurrency: positiveInt('FLOOD_CONCURRENCY', 20),
    healthRate: nonNegativeInt('FLOOD_HEALTH_RATE', 100),
    valueChar: process.env.FLOOD_CHAR || 'a',
    field: process.env.FLOOD_FIELD || 'password',
  };
  const repeat = positiveInt('FLOOD_REPEAT', 1);
  const rows = [];
  try {
    const databaseUrl = await harness.createDatabase(process.env.BENCH_DATABASE_ADMIN_URL || DEFAULT_ADMIN_URL, 'gatehouse_flood');
    const { base, rpcPort, child } = await harness.startGatehouse(databaseUrl, {
      nodeArgs: ['--import', LOOP_DELAY, ...(process.env.FLOOD_NODE_ARGS ?? '').split(' ').filter(Boolean)],
      // The bench's LOG_LEVEL=warn by default; a deployment logs at info (a line per request).
      env: process.env.FLOOD_LOG_LEVEL ? { LOG_LEVEL: process.env.FLOOD_LOG_LEVEL } : {},
    });
    await postJson(`${base}/auth/register`, USER, 201);
    for (const path of paths) {
      const alone = await measureHealthAlone({ baseUrl: base, healthPath: path, healthRate: options.healthRate, child });
      rows.push({ what: `${path} alone`, ...alone });
    }
    for (let round = 1; round <= repeat; round++) {
      for (const valueBytes of sizes) {
        for (const transport of transports) {
          for (const path of paths) {
            const result = await measureHealthUnderFlood({
              baseUrl: base,
              rpcPort,
              transport,
              valueBytes,
              healthPath: path,
              child,
              ...options,
            });
            rows.push({ what: `${path} during ${transport} flood, ${valueBytes} B ${options.field}s (round ${round})`, ...result });
          }
        }
      }
    }
  } finally {
    await harness.cleanup();
  }
  const lines = [
    '| measurement | health p50 ms | p99 ms | max ms | probes | loop delay p99 / max ms | flood answers | flood p50 / max ms | service CPU user+sys ms | generator CPU ms |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${fmt(r.health.p50)} | ${fmt(r.health.p99)} | ${fmt(r.health.max)} | ${r.health.count} | ` +
        `${fmt(r.loopDelay?.p99)} / ${fmt(r.loopDelay?.max)} | ${r.flood ? JSON.stringify(r.flood.statusCounts) : '—'} | ` +
        `${r.flood ? `${fmt(r.flood.latency.p50)} / ${fmt(r.flood.latency.max)}` : '—'} | ` +
        `${r.flood?.serviceCpu ? `${r.flood.serviceCpu.userMs}+${r.flood.serviceCpu.systemMs}` : '—'} | ` +
        `${r.flood ? `${r.flood.generatorCpu.userMs}+${r.flood.generatorCpu.systemMs}` : '—'} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (process.env.FLOOD_JSON) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
}

// A probe thread loads this module too, with the same argv: only the main thread runs the CLI.
if (isMainThread && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((error) => {
    process.stderr.write(`[flood] failed: ${error.stack ?? error}\n`);
    process.exit(1);
  });
}
