// POST /auth/mfa/verify under load: every request spends an mfaToken of its own, for an account
// whose TOTP step it has not used yet, and goes through the whole verify on the server (the
// challenge's look-up, the lockout's count, the TOTP check with its step claim, the consumption, the
// session insert, the token signatures). The tokens are seeded beforehand by bench/mfa-seed.mjs,
// one per request the run can send; here they are handed out, and each answer is checked.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Secret, TOTP } from 'otpauth';
import pg from 'pg';

import { MFA_CHALLENGE_TTL_SECONDS } from '../dist/src/mfa/mfa-challenges.service.js';
import { TOTP_PARAMS } from '../dist/src/mfa/totp.js';
import { BENCH_DIR, gatehouseEnv } from './harness.mjs';

/** The seeded accounts are `<prefix><n>@example.com`. */
const EMAIL_PREFIX = 'bench-mfa-';

/**
 * Whether seeded mfaTokens outlive `loadS` seconds of verify load run in alternation with a baseline
 * of the same length (twice that from the seeding to the last request), with a minute to spare.
 */
export const mfaLoadFits = (loadS) => 2 * loadS + 60 <= MFA_CHALLENGE_TTL_SECONDS;

/**
 * Seeds `count` accounts with a confirmed TOTP factor and a live mfaToken each, on the database of
 * `databaseUrl` (bench/mfa-seed.mjs, in a child process tracked by `harness`). Every account has
 * `passwordHash`, so that the challenges are those of a password login.
 */
export async function seedMfaChallenges({ harness, databaseUrl, count, passwordHash }) {
  const child = harness.track(
    fork(join(BENCH_DIR, 'mfa-seed.mjs'), [String(count), passwordHash, EMAIL_PREFIX], {
      env: gatehouseEnv(databaseUrl),
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
    'mfa-seed',
  );
  const seeded = await new Promise((resolve, reject) => {
    let result;
    child.once('message', (m) => (result = m));
    child.once('exit', (code) => (result ? resolve(result) : reject(new Error(`the MFA seeding exited without a result (code ${code})`))));
  });
  return new MfaChallengePool(seeded);
}

/**
 * Deletes the seeded accounts (their factors, challenges and sessions go with them) and vacuums, so
 * that later measurements find the tables as they would without this one. Returns seconds.
 */
export async function removeMfaAccounts(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const t0 = performance.now();
    await client.query(`DELETE FROM users WHERE email LIKE $1`, [`${EMAIL_PREFIX}%@example.com`]);
    await client.query('VACUUM (ANALYZE) users, mfa_totp, mfa_challenges, sessions');
    return (performance.now() - t0) / 1000;
  } finally {
    await client.end();
  }
}

/** The seeded mfaTokens, each handed out once, and the code of the current step of their shared secret. */
export class MfaChallengePool {
  constructor({ secret, tokens, seconds }) {
    this.secret = Secret.fromBase32(secret);
    this.tokens = tokens;
    this.seeded = tokens.length;
    this.seconds = seconds;
    this.next = 0;
    this.exhausted = 0;
    this.step = { counter: undefined, code: undefined };
  }

  /** The next unused mfaToken; when none is left, one the service refuses (and the run is invalid). */
  take() {
    if (this.next < this.tokens.length) return this.tokens[this.next++];
    this.exhausted += 1;
    return 'none-left';
  }

  /**
   * The code of the step the clock is in. Computed once per step: a code made just before a step's
   * end is still accepted (steps −1..+1), and no account has claimed any step before its request.
   */
  code() {
    const now = Date.now();
    const counter = TOTP.counter({ period: TOTP_PARAMS.period, timestamp: now });
    if (counter !== this.step.counter)
      this.step = { counter, code: TOTP.generate({ ...TOTP_PARAMS, secret: this.secret, timestamp: now }) };
    return this.step.code;
  }

  get used() {
    return this.next;
  }
}

/** A LoginResult with both tokens and the user: anything else in a 200 counts as a mismatch. */
function isLoginResult(body) {
  try {
    const answer = JSON.parse(body);
    return (
      typeof answer.sessionId === 'string' &&
      typeof answer.tokens?.accessToken === 'string' &&
      typeof answer.tokens?.refreshToken === 'string' &&
      typeof answer.user?.id === 'string'
    );
  } catch {
    return false;
  }
}

/**
 * autocannon options for `connections` connections verifying TOTP codes, one fresh mfaToken from
 * `pool` per request. `answers.mismatches` counts 200s that are not a LoginResult.
 */
export function mfaVerifyOptions(base, pool, connections) {
  const answers = { mismatches: 0 };
  return {
    answers,
    url: base,
    connections,
    requests: [
      {
        method: 'POST',
        path: '/auth/mfa/verify',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ mfaToken: pool.take(), method: 'totp', code: pool.code() }) }),
        onResponse: (status, body) => {
          if (status === 200 && !isLoginResult(body)) answers.mismatches += 1;
        },
      },
    ],
  };
}
