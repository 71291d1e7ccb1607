// What a refresh cannot beat on this machine, measured in the same run as the refresh itself:
//   - the database floor: chained one-statement token rotations (claim the presented hash, insert
//     the next one) sent straight through pg, no HTTP, no framework, the same number of chains;
//   - the signing floor: ES256 signatures of an access-token-sized payload on one thread.
// A refresh does both plus HTTP, validation and the answer, so it runs below the lower of the two.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

import { percentile } from './harness.mjs';

const sha256 = (value) => createHash('sha256').update(value).digest('hex');

/**
 * `chains` clients, each rotating its own chain of tokens as fast as the database answers, for
 * `durationS` after `warmupS`. Uses a scratch table of its own in `databaseUrl`, dropped afterwards.
 */
export async function rotationFloor({ databaseUrl, chains, durationS, warmupS }) {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const table = 'bench_rotation_floor';
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  // Shaped like the real refresh-token table: a unique hash, the session it belongs to, when it rotated.
  await admin.query(
    `CREATE TABLE ${table} (id bigserial PRIMARY KEY, token_hash text NOT NULL UNIQUE, session_id int NOT NULL,
       rotated_at timestamptz, created_at timestamptz NOT NULL DEFAULT now())`,
  );
  const clients = await Promise.all(
    Array.from({ length: chains }, async (_, i) => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      const token = randomBytes(32).toString('base64url');
      await client.query(`INSERT INTO ${table} (token_hash, session_id) VALUES ($1, $2)`, [sha256(token), i]);
      return { client, token };
    }),
  );
  const rotate = `WITH claimed AS (
       UPDATE ${table} SET rotated_at = now() WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id)
     INSERT INTO ${table} (token_hash, session_id) SELECT $2, session_id FROM claimed RETURNING session_id`;
  const run = async (seconds) => {
    const latencies = [];
    const end = performance.now() + seconds * 1000;
    const start = performance.now();
    await Promise.all(
      clients.map(async (chain) => {
        while (performance.now() < end) {
          const next = randomBytes(32).toString('base64url');
          const t0 = performance.now();
          const { rowCount } = await chain.client.query(rotate, [sha256(chain.token), sha256(next)]);
          if (rowCount !== 1) throw new Error('a floor rotation claimed nothing');
          latencies.push(performance.now() - t0);
          chain.token = next;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { perSecond: latencies.length / ((performance.now() - start) / 1000), latencies };
  };
  try {
    if (warmupS > 0) await run(warmupS);
    const { perSecond, latencies } = await run(durationS);
    return { perSecond, p50: percentile(latencies, 50), p99: percentile(latencies, 99), count: latencies.length };
  } finally {
    await Promise.all(clients.map(({ client }) => client.end()));
    await admin.query(`DROP TABLE IF EXISTS ${table}`).finally(() => admin.end());
  }
}

/** ES256 signatures per second on this thread, of a JWS signing input the size of an access token's. */
export function signingFloor({ durationS }) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'k'.repeat(22) })).toString('base64url');
  const latencies = [];
  const end = performance.now() + durationS * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    const claims = { sub: randomBytes(16).toString('hex'), sid: randomBytes(16).toString('hex'), roles: ['user'], iat: Date.now() };
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const t0 = performance.now();
    sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / ((performance.now() - start) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    count: latencies.length,
  };
}
