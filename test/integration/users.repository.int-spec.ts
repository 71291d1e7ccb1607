import { Client, type Notification } from 'pg';

import { AUTH_CHANGES_CHANNEL } from '../../src/events/auth-changes';
import { Transactions } from '../../src/platform/database/transactions';
import { UserEntity } from '../../src/users/user.entity';
import { PgUsersRepository } from '../../src/users/users.repository';
import { describeUsersRepository } from '../contracts/users.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA';

describe('PgUsersRepository', () => {
  let db: MigratedDatabase;
  let repository: PgUsersRepository;
  let transactions: Transactions;

  beforeAll(async () => {
    db = await migratedDatabase('users_repo', [UserEntity]);
    repository = new PgUsersRepository(db.dataSource);
    transactions = new Transactions(db.dataSource);
  });
  afterAll(() => db?.drop());

  const reset = () => db.dataSource.query('TRUNCATE users CASCADE');

  describeUsersRepository(() => Promise.resolve({ repository, transactions, reset }));

  describe('only PostgreSQL shows', () => {
    let listener: Client;
    let notifications: string[];
    let nextNotification: (() => void) | undefined;

    beforeAll(async () => {
      listener = new Client({ connectionString: (db.dataSource.options as { url?: string }).url });
      await listener.connect();
      listener.on('notification', (n: Notification) => {
        notifications.push(n.payload ?? '');
        nextNotification?.();
      });
      await listener.query(`LISTEN ${AUTH_CHANGES_CHANNEL}`);
    });
    afterAll(() => listener?.end());
    beforeEach(async () => {
      notifications = [];
      await reset();
    });

    /** Resolves once the notification announcing `payload` arrived; those before it are kept too. */
    function announced(payload: string): Promise<void> {
      return new Promise((resolve) => {
        nextNotification = () => {
          if (notifications.includes(payload)) resolve();
        };
        nextNotification();
      });
    }

    const insert = (email: string) =>
      repository.insert({ email, username: null, passwordHash: HASH, emailVerified: false, roles: ['user'] });

    it('announces a change of a user in the statement that makes it, and a refused or rolled-back one not at all', async () => {
      const changed = await insert('announced@example.test');
      const refused = await insert('refused@example.test');
      const rolledBack = await insert('rolled-back@example.test');
      const last = await insert('last@example.test');

      expect(await repository.setPasswordHash(refused.id, 'new', { expectedHash: 'not the stored one' })).toBe(false);
      await expect(
        transactions.run(async (tx) => {
          expect(await repository.setRoles(rolledBack.id, ['user', 'admin'], tx)).toBe(true);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await repository.setDeactivated(changed.id, true)).toBe(true);
      expect(await repository.markEmailVerified(last.id, 'last@example.test', undefined)).toBe(true);

      // Notifications arrive in commit order: once the last one is here, any earlier one would be too.
      await announced(`user:${last.id}`);
      expect(notifications).toEqual([`user:${changed.id}`, `user:${last.id}`]);
      expect((await repository.findById(rolledBack.id))!.roles).toEqual(['user']);
    });

    it('announces every kind of update', async () => {
      const user = await insert('every@example.test');
      await repository.setPasswordHash(user.id, 'a', {});
      await repository.markEmailVerified(user.id, 'every@example.test', 'b');
      await repository.setRoles(user.id, ['user']);
      await repository.setDeactivated(user.id, false);
      await transactions.run((tx) => repository.grantAdmin(user.id, {}, tx));
      const unverified = await insert('void@example.test');
      await repository.voidUnverifiedClaims(unverified.id);
      await announced(`user:${unverified.id}`);
      expect(notifications).toEqual([...Array<string>(5).fill(`user:${user.id}`), `user:${unverified.id}`]);
    });

    it('holds the row lock of lockAccountState and grantAdmin until the transaction ends', async () => {
      const user = await insert('locked@example.test');
      const other = db.dataSource.createQueryRunner();
      await other.connect();
      try {
        const tryLock = () => other.query('SELECT id FROM users WHERE id = $1 FOR UPDATE NOWAIT', [user.id]);
        await transactions.run(async (tx) => {
          await repository.lockAccountState(user.id, tx);
          await expect(tryLock()).rejects.toMatchObject({ driverError: { code: '55P03' } });
        });
        await transactions.run(async (tx) => {
          await repository.grantAdmin(user.id, {}, tx);
          await expect(tryLock()).rejects.toMatchObject({ driverError: { code: '55P03' } });
        });
        await expect(tryLock()).resolves.toEqual([{ id: user.id }]);
      } finally {
        await other.release();
      }
    });

    it('leaves no user behind when the inserting transaction rolls back', async () => {
      await expect(
        transactions.run(async (tx) => {
          await repository.insert(
            { email: 'gone@example.test', username: 'gone', passwordHash: HASH, emailVerified: false, roles: ['user'] },
            tx,
          );
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect(await repository.findByEmail('gone@example.test')).toBeNull();
    });
  });
});
