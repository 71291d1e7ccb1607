// The ceiling for POST /auth/login: how many argon2id verifies per second this machine does with the
// service's own parameters and the same number of calls in flight as the login test has connections.
// Its own process, so it gets a fresh libuv threadpool (where @node-rs/argon2 runs), like the service.
import { performance } from 'node:perf_hooks';
import { hash, verify } from '@node-rs/argon2';

// Taken from the build so the ceiling cannot drift from what the service really uses.
import { ARGON2_PARAMS } from '../dist/src/users/password-hasher.service.js';

const [concurrency, durationS, warmupS] = process.argv.slice(2).map(Number);
const PASSWORD = 'bench-argon2-Password-1';
const encoded = await hash(PASSWORD, ARGON2_PARAMS);

async function run(seconds) {
  const latencies = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      if (!(await verify(encoded, PASSWORD))) throw new Error('argon2 verify returned false for the right password');
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { count: latencies.length, elapsedS: (performance.now() - start) / 1000, latencies };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

if (warmupS > 0) await run(warmupS);
const { count, elapsedS, latencies } = await run(durationS);
latencies.sort((a, b) => a - b);
process.send({
  params: ARGON2_PARAMS,
  concurrency,
  threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE) || 4,
  count,
  elapsedS,
  perSecond: count / elapsedS,
  latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) },
});
process.disconnect();
