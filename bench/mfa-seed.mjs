// Seeds what POST /auth/mfa/verify needs, without paying argon2 for each first factor: accounts with
// a confirmed TOTP factor, and one live mfaToken each. Run as a child process by run.mjs, with the
// environment of the service it seeds for (DATABASE_URL and the rest): it boots the built service
// as a Nest application context (no listeners) and uses the service's own parts, so the rows are
// what the service itself writes:
//   - accounts `<emailPrefix><n>@example.com`: one INSERT … SELECT generate_series, all with the
//     bench account's stored hash;
//   - factors: one secret for all (each account claims its steps on its own), sealed per account by
//     MfaEncryption, inserted confirmed in chunks (users.mfa_enabled follows as for any factor);
//   - mfaTokens: the first through LoginService.completeFirstFactor, the gate every first factor
//     goes through, called as a password login calls it once the password has checked out (so the
//     seeded factor is known to gate sign-in); the others in chunks, with that challenge's first
//     factor and login context (the same for all: one password hash, one address, one agent),
//     tokens made and hashed as MfaChallengesService makes them, living as long.
// Usage (from run.mjs): fork('mfa-seed.mjs', [count, passwordHash, emailPrefix]); it sends
// `{ secret, tokens, seconds }` (the base32 secret, one mfaToken per account) and exits.
import { performance } from 'node:perf_hooks';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';

import { GatehouseModule } from '../dist/src/app.module.js';
import { LoginService } from '../dist/src/auth/login.service.js';
import { MFA_CHALLENGE_TTL_SECONDS } from '../dist/src/mfa/mfa-challenges.service.js';
import { MfaEncryption } from '../dist/src/mfa/mfa-encryption.service.js';
import { base32Secret, generateTotpSecret } from '../dist/src/mfa/totp.js';
import { generateOpaqueToken, sha256Hex } from '../dist/src/shared/crypto.js';
import { UsersService } from '../dist/src/users/users.service.js';

const [count, passwordHash, emailPrefix] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const CHUNK = 2000;

const t0 = performance.now();
const app = await NestFactory.createApplicationContext(GatehouseModule.forRoot(), { logger: ['error', 'warn'] });
try {
  const db = app.get(DataSource, { strict: false });
  const encryption = app.get(MfaEncryption, { strict: false });

  const ids = (
    await db.query(
      `INSERT INTO users (email, username, password_hash, email_verified)
       SELECT $3::text || g || '@example.com', $3::text || g, $1, true FROM generate_series(1, $2::int) AS g
       RETURNING id`,
      [passwordHash, count, emailPrefix],
    )
  ).map((r) => r.id);

  const secret = generateTotpSecret();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO mfa_totp (user_id, secret_enc, confirmed_at) SELECT id, enc, now() FROM unnest($1::uuid[], $2::bytea[]) AS s (id, enc)`,
      [chunk, chunk.map((id) => encryption.seal(secret, id))],
    );
  }

  const user = await app.get(UsersService, { strict: false }).findByIdWithPassword(ids[0]);
  const { passwordHash: checkedPasswordHash, ...rest } = user;
  const first = await app.get(LoginService, { strict: false }).completeFirstFactor(rest, {
    amr: ['pwd'],
    checkedPasswordHash,
    connection: { ip: '127.0.0.1', userAgent: 'gatehouse-bench' },
  });
  // A session instead means the seeded factor does not gate sign-in: there would be nothing to measure.
  if (!first.mfaRequired) throw new Error('an account seeded with a confirmed TOTP factor was not asked for a second factor');
  const [made] = await db.query('SELECT first_factor, login_context FROM mfa_challenges WHERE token_hash = $1', [
    sha256Hex(first.mfaToken),
  ]);

  const tokens = [first.mfaToken];
  for (let i = 1; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    const minted = chunk.map(() => generateOpaqueToken());
    tokens.push(...minted);
    await db.query(
      `INSERT INTO mfa_challenges (token_hash, user_id, first_factor, login_context, expires_at)
       SELECT hash, id, $3, $4, now() + make_interval(secs => $5) FROM unnest($1::text[], $2::uuid[]) AS s (hash, id)`,
      [minted.map(sha256Hex), chunk, made.first_factor, JSON.stringify(made.login_context), MFA_CHALLENGE_TTL_SECONDS],
    );
  }
  // Done now rather than by autovacuum, hint-bit writes and a checkpoint during the measurement.
  await db.query('VACUUM (ANALYZE) users, mfa_totp, mfa_challenges');
  await db.query('CHECKPOINT').catch(() => {});
  // Large (about 50 bytes an account): wait until it is written before closing the channel.
  await new Promise((resolve) => process.send({ secret: base32Secret(secret), tokens, seconds: (performance.now() - t0) / 1000 }, resolve));
} finally {
  await app.close();
}
process.disconnect();
