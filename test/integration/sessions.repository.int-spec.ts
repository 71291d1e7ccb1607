import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';

import { AUTH_CHANGES_CHANNEL } from '../../src/events/auth-changes';
import { Transactions } from '../../src/platform/database/transactions';
import { RefreshTokenEntity, SessionEntity } from '../../src/sessions/session.entity';
import { PgSessionsRepository, type SessionAssurance } from '../../src/sessions/sessions.repository';
import { describeSessionsRepository } from '../contracts/sessions.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

let db: MigratedDatabase;
let repository: PgSessionsRepository;
let transactions: Transactions;

const hash = (): string => randomBytes(32).toString('hex');
const PWD: SessionAssurance = { amr: ['pwd'], aal: 1 };

async function givenUser(
  dataSource: DataSource,
  user: { passwordHash?: string; deactivated?: boolean; email?: string; roles?: string[] } = {},
): Promise<string> {
  const rows: Array<{ id: string }> = await dataSource.query(
    `INSERT INTO users (email, password_hash, deactivated_at, roles) VALUES ($1, $2, CASE WHEN $3 THEN now() END, $4) RETURNING id`,
    [
      user.email ?? `${randomBytes(6).toString('hex')}@example.com`,
      user.passwordHash ?? 'not-a-real-hash',
      user.deactivated ?? false,
      user.roles ?? ['user'],
    ],
  );
  return rows[0].id;
}

async function reset(): Promise<void> {
  await db.dataSource.query(`TRUNCATE users, sessions, refresh_tokens CASCADE`);
}

beforeAll(async () => {
  db = await migratedDatabase('sessions_repo', [SessionEntity, RefreshTokenEntity]);
  repository = new PgSessionsRepository(db.dataSource);
  transactions = new Transactions(db.dataSource);
});

afterAll(async () => {
  await db?.drop();
});

describe('PgSessionsRepository', () => {
  describeSessionsRepository(() =>
    Promise.resolve({
      repository,
      transactions,
      reset,
      givenUser: (user) => givenUser(db.dataSource, user),
      deactivateUser: async (userId) => {
        await db.dataSource.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [userId]);
      },
    }),
  );
});

describe('PgSessionsRepository on PostgreSQL only', () => {
  beforeEach(reset);

  const open = async (userId: string) => {
    const refreshTokenHash = hash();
    const session = await repository.createWithRefreshToken({
      userId,
      ip: null,
      userAgent: null,
      ttlSeconds: 3600,
      refreshTokenHash,
      assurance: PWD,
    });
    return { session: session!, refreshTokenHash };
  };

  it('stores the refresh token as the hash it is given, one row per token ever issued', async () => {
    const userId = await givenUser(db.dataSource);
    const { session, refreshTokenHash } = await open(userId);
    const next = hash();
    await repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: next, ip: null, userAgent: null });
    const rows = await db.dataSource.query(
      `SELECT token_hash, rotated_at IS NOT NULL AS rotated FROM refresh_tokens WHERE session_id = $1 ORDER BY created_at`,
      [session.id],
    );
    expect(rows).toEqual([
      { token_hash: refreshTokenHash, rotated: true },
      { token_hash: next, rotated: false },
    ]);
  });

  it('mints one new token from one token, however many rotations race', async () => {
    const userId = await givenUser(db.dataSource);
    const { session, refreshTokenHash } = await open(userId);
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: hash(), ip: null, userAgent: null }),
      ),
    );
    expect(results.filter((r) => r !== null).map((r) => r.session.id)).toEqual([session.id]);
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM refresh_tokens WHERE session_id = $1`, [session.id]);
    expect(count).toBe(2);
  });

  it('revokes nothing in a transaction that rolls back', async () => {
    const userId = await givenUser(db.dataSource);
    const { session } = await open(userId);
    await expect(
      transactions.run(async (tx) => {
        expect(await repository.revokeAllForUser(userId, { reason: 'password_changed' }, tx)).toHaveLength(1);
        throw new Error('issuing failed');
      }),
    ).rejects.toThrow('issuing failed');
    expect(await repository.findLive(session.id, userId)).not.toBeNull();
  });

  it('rotates a token whose session a concurrent revocation is ending only before it, never after', async () => {
    const userId = await givenUser(db.dataSource);
    const { session, refreshTokenHash } = await open(userId);
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [userId]);
      await runner.query(`UPDATE sessions SET revoked_at = now(), revoke_reason = 'user_deactivated' WHERE user_id = $1`, [userId]);
      const rotation = repository.rotateRefreshToken({ tokenHash: refreshTokenHash, nextTokenHash: hash(), ip: null, userAgent: null });
      await waitUntilALockIsAwaited(db.dataSource);
      await runner.commitTransaction();
      expect(await rotation).toBeNull();
    } finally {
      await runner.release();
    }
    const [{ count }] = await db.dataSource.query(`SELECT count(*)::int AS count FROM refresh_tokens WHERE session_id = $1`, [session.id]);
    expect(count).toBe(1);
  });

  it('announces every session it revokes, cascaded ones included, by the revoking statement', async () => {
    const admin = await givenUser(db.dataSource);
    const target = await givenUser(db.dataSource);
    const { session } = await open(admin);
    const impersonation = await repository.createWithRefreshToken({
      userId: target,
      ip: null,
      userAgent: null,
      ttlSeconds: 600,
      refreshTokenHash: hash(),
      assurance: PWD,
      impersonator: { userId: admin, sessionId: session.id },
    });
    const listener = new Client({ connectionString: (db.dataSource.options as { url?: string }).url });
    await listener.connect();
    try {
      const heard: string[] = [];
      const both = new Promise<void>((resolve) =>
        listener.on('notification', (message) => {
          heard.push(`${message.channel} ${message.payload}`);
          if (heard.length === 2) resolve();
        }),
      );
      await listener.query(`LISTEN ${AUTH_CHANGES_CHANNEL}`);
      await repository.revoke(session.id, 'logout');
      await both;
      expect(heard.sort()).toEqual(
        [`${AUTH_CHANGES_CHANNEL} session:${session.id}`, `${AUTH_CHANGES_CHANNEL} session:${impersonation!.id}`].sort(),
      );
    } finally {
      await listener.end();
    }
  });

  it('refuses a login that waited on a deactivation of its user', async () => {
    const userId = await givenUser(db.dataSource);
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`UPDATE users SET deactivated_at = now() WHERE id = $1`, [userId]);
      const login = repository.createWithRefreshToken({
        userId,
        ip: null,
        userAgent: null,
        ttlSeconds: 600,
        refreshTokenHash: hash(),
        assurance: PWD,
      });
      await waitUntilALockIsAwaited(db.dataSource);
      await runner.commitTransaction();
      expect(await login).toBeNull();
    } finally {
      await runner.release();
    }
    expect(await repository.listLiveForUser(userId)).toEqual([]);
  });
});

/** Until another connection of this database waits for a row lock. */
async function waitUntilALockIsAwaited(dataSource: DataSource): Promise<void> {
  for (;;) {
    const rows: unknown[] = await dataSource.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
