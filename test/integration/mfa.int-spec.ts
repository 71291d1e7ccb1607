import { createSecretKey, randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

import { PgMfaChallengesRepository } from '../../src/mfa/mfa-challenges.repository';
import { MFA_CHALLENGE_MAX_ATTEMPTS, MfaChallengesService } from '../../src/mfa/mfa-challenges.service';
import { PgMfaEncryptionKeysRepository } from '../../src/mfa/mfa-encryption-keys.repository';
import { MfaEncryption } from '../../src/mfa/mfa-encryption.service';
import { PgMfaLockoutRepository } from '../../src/mfa/mfa-lockout.repository';
import { MFA_LOCKOUT_THRESHOLD, MfaLockoutService } from '../../src/mfa/mfa-lockout.service';
import { PgRecoveryCodesRepository } from '../../src/mfa/recovery-codes.repository';
import { RecoveryCodesService } from '../../src/mfa/recovery-codes.service';
import { keyId, seal } from '../../src/mfa/secret-box';
import { TOTP_PARAMS } from '../../src/mfa/totp';
import { PgTotpRepository } from '../../src/mfa/totp.repository';
import { TotpService } from '../../src/mfa/totp.service';
import type { AppConfig } from '../../src/platform/config/app-config';
import type { DatabaseConnection } from '../../src/platform/database/database-connection';
import { Transactions } from '../../src/platform/database/transactions';
import { sha256Hex } from '../../src/shared/crypto';
import { AppError, ErrorCode } from '../../src/shared/errors/app-error';
import { PasswordHasher } from '../../src/users/password-hasher.service';
import { describeMfaRepositories } from '../contracts/mfa.repositories.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

/** The database is connected: start-up work runs at once. */
const connected = { whenConnected: async (_: string, task: () => Promise<void> | void) => task() } as unknown as DatabaseConnection;

const config = (mfa: AppConfig['mfa'] = {}): AppConfig =>
  ({ jwt: { issuer: 'https://id.example.com' }, lockout: { durationSeconds: 900 }, mfa }) as AppConfig;

/**
 * Waits, when needed, until at least `remainingMs` are left in the current 30-second step, so that
 * codes for now±30 s computed now stay on the same side of a step's edge while the test runs.
 */
async function midStep(remainingMs = 3000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < remainingMs) await new Promise((resolve) => setTimeout(resolve, left + 500));
}

const codeAt = (base32: string, timestamp: number): string =>
  TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(base32), timestamp });

let db: MigratedDatabase;
let transactions: Transactions;
let hasher: PasswordHasher;

async function newUser(): Promise<{ id: string; email: string }> {
  const email = `u-${randomBytes(6).toString('hex')}@example.com`;
  const [row] = await db.dataSource.query(`INSERT INTO users (email, password_hash) VALUES ($1, 'x') RETURNING id`, [email]);
  return { id: row.id, email };
}

async function startEncryption(mfa: AppConfig['mfa'] = {}): Promise<MfaEncryption> {
  const encryption = new MfaEncryption(config(mfa), new PgMfaEncryptionKeysRepository(db.dataSource), connected);
  await encryption.onModuleInit();
  return encryption;
}

beforeAll(async () => {
  db = await migratedDatabase('mfa');
  transactions = new Transactions(db.dataSource);
  hasher = new PasswordHasher();
  await hasher.onModuleInit();
});

afterAll(async () => {
  await db?.drop();
});

describe('PostgreSQL second-factor repositories', () => {
  describeMfaRepositories(() =>
    Promise.resolve({
      totp: new PgTotpRepository(db.dataSource),
      recoveryCodes: new PgRecoveryCodesRepository(db.dataSource),
      challenges: new PgMfaChallengesRepository(db.dataSource),
      lockouts: new PgMfaLockoutRepository(db.dataSource),
      keys: new PgMfaEncryptionKeysRepository(db.dataSource),
      newUserId: async () => (await newUser()).id,
      reset: async () => {
        await db.dataSource.query(`TRUNCATE mfa_encryption_keys`);
      },
    }),
  );
});

describe('MfaEncryption', () => {
  beforeEach(async () => {
    await db.dataSource.query(`TRUNCATE mfa_encryption_keys, mfa_totp`);
  });

  it('generates one key for instances starting together, and each opens what another sealed', async () => {
    const instances = await Promise.all(Array.from({ length: 5 }, () => startEncryption()));
    const rows = await db.dataSource.query(`SELECT kid, current, length(key) AS bytes FROM mfa_encryption_keys`);
    expect(rows).toEqual([{ kid: expect.stringMatching(/^[0-9a-f]{8}$/), current: true, bytes: 32 }]);
    const sealed = instances[0].seal(Buffer.from('secret'), 'owner');
    for (const instance of instances) expect((await instance.open(sealed, 'owner')).toString()).toBe('secret');
    // A restart finds the stored key and generates none.
    await startEncryption();
    expect(await db.dataSource.query(`SELECT count(*)::int AS n FROM mfa_encryption_keys`)).toEqual([{ n: 1 }]);
  });

  it('with MFA_ENCRYPTION_KEY stores no key, seals under it, and still opens what the generated key sealed', async () => {
    const generated = await startEncryption();
    const before = generated.seal(Buffer.from('old'), 'owner');
    const configured = createSecretKey(randomBytes(32));
    const encryption = await startEncryption({ encryptionKey: configured });
    const after = encryption.seal(Buffer.from('new'), 'owner');
    expect(after.subarray(1, 5).toString('hex')).toBe(keyId(configured));
    expect((await encryption.open(before, 'owner')).toString()).toBe('old');
    expect((await encryption.open(after, 'owner')).toString()).toBe('new');

    await db.dataSource.query(`TRUNCATE mfa_encryption_keys`);
    await startEncryption({ encryptionKey: configured });
    expect(await db.dataSource.query(`SELECT count(*)::int AS n FROM mfa_encryption_keys`)).toEqual([{ n: 0 }]);
  });

  it('refuses a value sealed with a key it does not know', async () => {
    const encryption = await startEncryption();
    const foreign = seal(createSecretKey(randomBytes(32)), Buffer.from('x'), 'owner');
    await expect(encryption.open(foreign, 'owner')).rejects.toThrow(/no MFA encryption key/);
  });

  it('answers 503 until the database is connected', () => {
    const encryption = new MfaEncryption(config(), new PgMfaEncryptionKeysRepository(db.dataSource), connected);
    expect(() => encryption.seal(Buffer.from('x'), 'owner')).toThrow(expect.objectContaining({ code: ErrorCode.SERVICE_UNAVAILABLE }));
  });
});

describe('TotpService', () => {
  let totp: TotpService;
  let repository: PgTotpRepository;
  let recoveryCodes: RecoveryCodesService;

  beforeAll(async () => {
    repository = new PgTotpRepository(db.dataSource);
    const codesRepository = new PgRecoveryCodesRepository(db.dataSource);
    totp = new TotpService(config(), repository, codesRepository, await startEncryption(), transactions);
    recoveryCodes = new RecoveryCodesService(codesRepository, hasher);
  });

  async function enabled(): Promise<{ user: { id: string; email: string }; secret: string }> {
    const user = await newUser();
    const setup = await totp.startSetup(user);
    // The test that follows runs in the same step as this confirmation.
    await midStep(8000);
    expect(await totp.confirm(user.id, codeAt(setup!.secret, Date.now() - 30_000))).toBe(true);
    return { user, secret: setup!.secret };
  }

  it("keeps the user's mfa_enabled in step with the factor: pending no, confirmed yes, removed no", async () => {
    const flag = async (id: string): Promise<boolean> => {
      const rows: Array<{ mfa_enabled: boolean }> = await db.dataSource.query('SELECT mfa_enabled FROM users WHERE id = $1', [id]);
      return rows[0]?.mfa_enabled ?? false;
    };
    const user = await newUser();
    expect(await flag(user.id)).toBe(false);
    const setup = await totp.startSetup(user);
    expect(await flag(user.id)).toBe(false);
    await midStep();
    expect(await totp.confirm(user.id, codeAt(setup!.secret, Date.now()))).toBe(true);
    expect(await flag(user.id)).toBe(true);
    expect(await totp.disable(user.id)).toBe(true);
    expect(await flag(user.id)).toBe(false);
  });

  it('sets up a pending factor that satisfies nothing until a code confirms it', async () => {
    const user = await newUser();
    const setup = await totp.startSetup(user);
    expect(setup?.secret).toMatch(/^[A-Z2-7]{32}$/);
    const url = new URL(setup!.otpauthUrl);
    expect(decodeURIComponent(url.pathname)).toBe(`/id.example.com:${user.email}`);
    expect(url.searchParams.get('issuer')).toBe('id.example.com');
    expect(url.searchParams.get('secret')).toBe(setup!.secret);

    await midStep();
    const code = codeAt(setup!.secret, Date.now());
    expect(await totp.status(user.id)).toEqual({ enabled: false, confirmedAt: null });
    expect(await totp.hasConfirmedFactor(user.id)).toBe(false);
    expect(await totp.verify(user.id, code)).toBe(false);

    expect(await totp.confirm(user.id, '000000')).toBe(false);
    expect(await totp.confirm(user.id, code)).toBe(true);
    expect(await totp.status(user.id)).toEqual({ enabled: true, confirmedAt: expect.any(Date) });
    expect(await totp.hasConfirmedFactor(user.id)).toBe(true);
    // The code that confirmed claimed its step.
    expect(await totp.verify(user.id, code)).toBe(false);
    // Confirmed: a new setup is refused and changes nothing.
    expect(await totp.startSetup(user)).toBeNull();
    expect(await totp.confirm(user.id, codeAt(setup!.secret, Date.now() + 30_000))).toBe(false);
  });

  it('replaces a pending setup: codes of the replaced secret no longer confirm', async () => {
    const user = await newUser();
    const first = await totp.startSetup(user);
    const second = await totp.startSetup(user);
    expect(second!.secret).not.toBe(first!.secret);
    await midStep();
    expect(await totp.confirm(user.id, codeAt(first!.secret, Date.now()))).toBe(false);
    expect(await totp.confirm(user.id, codeAt(second!.secret, Date.now()))).toBe(true);
  });

  it('accepts steps −1..+1 once each, in order, and refuses ±2 and every step at or before the last', async () => {
    const { user, secret } = await enabled();
    const now = Date.now();
    expect(await totp.verify(user.id, codeAt(secret, now - 60_000))).toBe(false);
    expect(await totp.verify(user.id, codeAt(secret, now + 60_000))).toBe(false);
    // The confirming code claimed step −1.
    expect(await totp.verify(user.id, codeAt(secret, now - 30_000))).toBe(false);
    expect(await totp.verify(user.id, codeAt(secret, now))).toBe(true);
    expect(await totp.verify(user.id, codeAt(secret, now))).toBe(false);
    expect(await totp.verify(user.id, codeAt(secret, now + 30_000))).toBe(true);
    expect(await totp.verify(user.id, codeAt(secret, now))).toBe(false);
  });

  it('of 10 concurrent submissions of one code, exactly one wins', async () => {
    const { user, secret } = await enabled();
    const code = codeAt(secret, Date.now());
    const results = await Promise.all(Array.from({ length: 10 }, () => totp.verify(user.id, code)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('of 10 concurrent claims of one step in the repository, exactly one wins', async () => {
    const { user } = await enabled();
    const [{ secret_enc: secretEnc, last_step: lastStep }] = await db.dataSource.query(
      `SELECT secret_enc, last_step FROM mfa_totp WHERE user_id = $1`,
      [user.id],
    );
    const step = Number(lastStep) + 1;
    const results = await Promise.all(Array.from({ length: 10 }, () => repository.claimStep(user.id, secretEnc, step)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await repository.claimStep(user.id, secretEnc, step)).toBe(false);
    expect(await repository.claimStep(user.id, secretEnc, step - 1)).toBe(false);
    expect(await repository.claimStep(user.id, randomBytes(40), step + 1)).toBe(false);
  });

  it('disables: the factor and its recovery codes are gone, and a new setup can start', async () => {
    const { user } = await enabled();
    await recoveryCodes.regenerate(user.id);
    expect(await totp.disable(user.id)).toBe(true);
    expect(await totp.status(user.id)).toEqual({ enabled: false, confirmedAt: null });
    expect(await totp.hasConfirmedFactor(user.id)).toBe(false);
    expect(await recoveryCodes.remaining(user.id)).toBe(0);
    expect(await totp.disable(user.id)).toBe(false);
    expect(await totp.startSetup(user)).not.toBeNull();
  });

  it('refuses codes of another user and malformed codes', async () => {
    const a = await enabled();
    const b = await enabled();
    expect(await totp.verify(b.user.id, codeAt(a.secret, Date.now()))).toBe(false);
    for (const bad of ['', '12345', 'abcdef', '1234567']) expect(await totp.verify(a.user.id, bad)).toBe(false);
    expect(await totp.verify((await newUser()).id, codeAt(a.secret, Date.now()))).toBe(false);
  });
});

describe('RecoveryCodesService', () => {
  let service: RecoveryCodesService;
  let check: jest.SpyInstance;

  beforeAll(() => {
    service = new RecoveryCodesService(new PgRecoveryCodesRepository(db.dataSource), hasher);
  });
  beforeEach(() => {
    check = jest.spyOn(hasher, 'check');
  });
  afterEach(() => check.mockRestore());

  it('makes 10 codes; each works once, typed any way, and says how many remain', async () => {
    const user = await newUser();
    const codes = await service.regenerate(user.id);
    expect(codes).toHaveLength(10);
    expect(await service.remaining(user.id)).toBe(10);
    expect(await service.use(user.id, codes[0])).toEqual({ remaining: 9 });
    expect(await service.use(user.id, codes[0])).toBeNull();
    expect(await service.use(user.id, ` ${codes[1].toUpperCase().replace(/-/g, ' ')} `)).toEqual({ remaining: 8 });
    expect(await service.remaining(user.id)).toBe(8);
  });

  it('costs one hash verify per attempt, hit, miss or unknown lookup alike', async () => {
    const user = await newUser();
    const [code] = await service.regenerate(user.id);
    const wrongSecret = `${code.slice(0, 5)}${code[5] === '2' ? '3' : '2'}${code.slice(6)}`;
    for (const attempt of [wrongSecret, 'zzzz-zzzz-zzzz', code]) {
      check.mockClear();
      await service.use(user.id, attempt);
      expect(check).toHaveBeenCalledTimes(1);
    }
    expect(check.mock.calls[0][0]).toBeTruthy();
    // Unknown lookup: the check runs against the dummy hash (no stored hash given).
    check.mockClear();
    expect(await service.use(user.id, '2222-2222-2222')).toBeNull();
    expect(check).toHaveBeenCalledWith(undefined, '222222222222');
  });

  it("refuses a wrong secret part behind a right lookup, and another user's code", async () => {
    const user = await newUser();
    const other = await newUser();
    const [code] = await service.regenerate(user.id);
    const [otherCode] = await service.regenerate(other.id);
    const wrongSecret = `${code.slice(0, 5)}${code[5] === '2' ? '3' : '2'}${code.slice(6)}`;
    expect(await service.use(user.id, wrongSecret)).toBeNull();
    expect(await service.use(user.id, otherCode)).toBeNull();
    expect(await service.remaining(user.id)).toBe(10);
  });

  it('of 10 concurrent uses of one code, exactly one wins', async () => {
    const user = await newUser();
    const [code] = await service.regenerate(user.id);
    const results = await Promise.all(Array.from({ length: 10 }, () => service.use(user.id, code)));
    expect(results.filter((r) => r !== null)).toEqual([{ remaining: 9 }]);
  });

  it('regenerating voids the old set at once, and concurrent regenerations leave one whole set', async () => {
    const user = await newUser();
    const old = await service.regenerate(user.id);
    const sets = await Promise.all([service.regenerate(user.id), service.regenerate(user.id)]);
    expect(await service.use(user.id, old[0])).toBeNull();
    expect(await service.remaining(user.id)).toBe(10);
    const rows = await db.dataSource.query(`SELECT lookup FROM mfa_recovery_codes WHERE user_id = $1`, [user.id]);
    const kept = sets.find((set) => set.every((c) => rows.some((r: { lookup: string }) => r.lookup === c.slice(0, 4))));
    expect(kept).toBeDefined();
    expect(await service.use(user.id, kept![0])).toEqual({ remaining: 9 });
  });
});

describe('MfaChallengesService', () => {
  let challenges: MfaChallengesService;
  const context = { ttl: 3600, ip: '203.0.113.9', userAgent: 'test-agent', amr: ['pwd'] };

  beforeAll(() => {
    challenges = new MfaChallengesService(new PgMfaChallengesRepository(db.dataSource), connected);
  });

  it('creates a 5-minute challenge stored by the hash of its 256-bit token, carrying the login context', async () => {
    const user = await newUser();
    const created = await challenges.create(user.id, 'password', context);
    expect(created.mfaToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.expiresIn).toBe(300);
    const [row] = await db.dataSource.query(
      `SELECT token_hash, extract(epoch FROM expires_at - created_at)::int AS ttl FROM mfa_challenges WHERE id = $1`,
      [created.challengeId],
    );
    expect(row).toEqual({ token_hash: sha256Hex(created.mfaToken), ttl: 300 });
    expect(await challenges.find(created.mfaToken)).toEqual({
      id: created.challengeId,
      userId: user.id,
      firstFactor: 'password',
      loginContext: context,
      attempts: 0,
      expiresAt: expect.any(Date),
    });
    expect(await challenges.find('x'.repeat(43))).toBeNull();
    expect(await challenges.find('not a token')).toBeNull();
  });

  it('dies at the fifth wrong code', async () => {
    const user = await newUser();
    const { mfaToken, challengeId } = await challenges.create(user.id, 'password', context);
    for (let i = 1; i < MFA_CHALLENGE_MAX_ATTEMPTS; i++) {
      expect(await challenges.recordWrongCode(challengeId)).toEqual({ attempts: i, dead: false });
      expect(await challenges.find(mfaToken)).not.toBeNull();
    }
    expect(await challenges.recordWrongCode(challengeId)).toEqual({ attempts: 5, dead: true });
    expect(await challenges.find(mfaToken)).toBeNull();
    expect(await challenges.consume(mfaToken)).toBeNull();
    expect(await challenges.recordWrongCode(challengeId)).toEqual({ attempts: 5, dead: true });
  });

  it('counts concurrent wrong codes one by one, never past the limit', async () => {
    const user = await newUser();
    const { challengeId } = await challenges.create(user.id, 'password', context);
    const results = await Promise.all(Array.from({ length: 8 }, () => challenges.recordWrongCode(challengeId)));
    expect(
      results
        .filter((r) => !r.dead)
        .map((r) => r.attempts)
        .sort(),
    ).toEqual([1, 2, 3, 4]);
    const [row] = await db.dataSource.query(`SELECT attempts FROM mfa_challenges WHERE id = $1`, [challengeId]);
    expect(row.attempts).toBe(5);
  });

  it('is consumed once, also under concurrency', async () => {
    const user = await newUser();
    const { mfaToken } = await challenges.create(user.id, 'email', context);
    const results = await Promise.all(Array.from({ length: 10 }, () => challenges.consume(mfaToken)));
    expect(results.filter((r) => r !== null)).toEqual([
      expect.objectContaining({ userId: user.id, firstFactor: 'email', loginContext: context }),
    ]);
    expect(await challenges.find(mfaToken)).toBeNull();
    expect(await challenges.consume(mfaToken)).toBeNull();
  });

  it('is dead once expired, and the purge deletes expired challenges only', async () => {
    const user = await newUser();
    const expired = await challenges.create(user.id, 'password', context);
    const live = await challenges.create(user.id, 'password', context);
    await db.dataSource.query(`UPDATE mfa_challenges SET expires_at = now() - interval '1 second' WHERE id = $1`, [expired.challengeId]);
    expect(await challenges.find(expired.mfaToken)).toBeNull();
    expect(await challenges.consume(expired.mfaToken)).toBeNull();
    expect(await challenges.purgeExpired()).toBeGreaterThanOrEqual(1);
    const ids = (await db.dataSource.query(`SELECT id FROM mfa_challenges WHERE user_id = $1`, [user.id])).map((r: { id: string }) => r.id);
    expect(ids).toEqual([live.challengeId]);
  });
});

describe('MfaLockoutService', () => {
  let lockout: MfaLockoutService;

  beforeAll(() => {
    lockout = new MfaLockoutService(config(), new PgMfaLockoutRepository(db.dataSource));
  });

  const refusal = (attempt: Promise<unknown>): Promise<AppError> =>
    attempt.then(
      () => Promise.reject(new Error('not refused')),
      (e: AppError) => e,
    );

  it('locks after 10 consecutive failures for LOCKOUT_DURATION, other accounts unaffected', async () => {
    const user = await newUser();
    const other = await newUser();
    for (let i = 1; i <= MFA_LOCKOUT_THRESHOLD; i++) expect(await lockout.begin(user.id)).toEqual({ number: i });
    const error = await refusal(lockout.begin(user.id));
    expect(error.code).toBe(ErrorCode.TOO_MANY_REQUESTS);
    expect(error.details.retryAfter).toBeGreaterThan(890);
    expect(error.details.retryAfter).toBeLessThanOrEqual(900);
    const until = await lockout.lockedUntil(user.id);
    expect(until!.getTime() - Date.now()).toBeGreaterThan(890_000);
    expect(await lockout.lockedUntil(other.id)).toBeNull();
    expect(await lockout.begin(other.id)).toEqual({ number: 1 });
  });

  it('a success ends the run of failures (the 10th attempt succeeding lifts the lock it started)', async () => {
    const user = await newUser();
    for (let i = 1; i <= MFA_LOCKOUT_THRESHOLD; i++) await lockout.begin(user.id);
    await lockout.succeeded(user.id);
    expect(await lockout.lockedUntil(user.id)).toBeNull();
    expect(await lockout.begin(user.id)).toEqual({ number: 1 });
  });

  it('lets no more than 10 of many concurrent attempts through', async () => {
    const user = await newUser();
    const results = await Promise.allSettled(Array.from({ length: 25 }, () => lockout.begin(user.id)));
    const passed = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.number] : []));
    expect(passed.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  it('counts afresh once a lock has run out', async () => {
    const user = await newUser();
    for (let i = 1; i <= MFA_LOCKOUT_THRESHOLD; i++) await lockout.begin(user.id);
    await db.dataSource.query(`UPDATE mfa_lockouts SET locked_until = now() - interval '1 second' WHERE user_id = $1`, [user.id]);
    expect(await lockout.lockedUntil(user.id)).toBeNull();
    expect(await lockout.begin(user.id)).toEqual({ number: 1 });
  });
});

describe('at rest (grey box)', () => {
  it('no TOTP secret or recovery code appears in the clear in any column', async () => {
    const encryption = await startEncryption();
    const codesRepository = new PgRecoveryCodesRepository(db.dataSource);
    const totp = new TotpService(config(), new PgTotpRepository(db.dataSource), codesRepository, encryption, transactions);
    const codes = new RecoveryCodesService(codesRepository, hasher);
    const user = await newUser();
    const setup = await totp.startSetup(user);
    await midStep();
    expect(await totp.confirm(user.id, codeAt(setup!.secret, Date.now()))).toBe(true);
    const recovery = await codes.regenerate(user.id);
    await codes.use(user.id, recovery[9]);

    const raw = Buffer.from(Secret.fromBase32(setup!.secret).bytes);
    const needles = [
      setup!.secret,
      setup!.secret.toLowerCase(),
      raw.toString('hex'),
      raw.toString('base64'),
      ...recovery,
      ...recovery.map((c) => c.replace(/-/g, '')),
      ...recovery.map((c) => c.replace(/-/g, '').slice(4)),
    ];
    const tables: Array<{ table_name: string }> = await db.dataSource.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    let scanned = 0;
    for (const { table_name: table } of tables) {
      const rows: Array<{ row: string }> = await db.dataSource.query(`SELECT t::text AS row FROM "${table}" t`);
      for (const { row } of rows) {
        scanned += 1;
        for (const needle of needles) expect(row.toLowerCase()).not.toContain(needle.toLowerCase());
      }
      const byteaColumns: Array<{ column_name: string }> = await db.dataSource.query(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND data_type = 'bytea'`,
        [table],
      );
      for (const { column_name: column } of byteaColumns) {
        const values: Array<{ v: Buffer }> = await db.dataSource.query(
          `SELECT "${column}" AS v FROM "${table}" WHERE "${column}" IS NOT NULL`,
        );
        for (const { v } of values) expect(v.includes(raw)).toBe(false);
      }
    }
    expect(scanned).toBeGreaterThan(10);
  });
});
