import { setTimeout as sleep } from 'node:timers/promises';

import { PgMailOutboxRepository, type MailToQueue } from '../../src/mail/mail-outbox.repository';
import { Transactions } from '../../src/platform/database/transactions';
import { describeMailOutboxRepository } from '../contracts/mail-outbox.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

const mail = (subject: string, recipient = 'ann@example.com'): MailToQueue => ({
  kind: 'password_reset',
  recipient,
  subject,
  text: 'a live token',
  html: '<p>a live token</p>',
});

describe('PgMailOutboxRepository', () => {
  let db: MigratedDatabase;
  let repository: PgMailOutboxRepository;
  let transactions: Transactions;

  beforeAll(async () => {
    db = await migratedDatabase('mail_outbox');
    repository = new PgMailOutboxRepository(db.dataSource);
    transactions = new Transactions(db.dataSource);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const reset = async (): Promise<void> => {
    await db.dataSource.query(`TRUNCATE mail_outbox`);
  };

  describeMailOutboxRepository(() => Promise.resolve({ repository, transactions, reset }));

  describe('in PostgreSQL', () => {
    beforeEach(reset);

    const row = async (id: string) =>
      (
        await db.dataSource.query(
          `SELECT status, text_body, html_body, last_error, locked_until, sent_at, attempts, next_attempt_at > now() AS later FROM mail_outbox WHERE id = $1`,
          [id],
        )
      )[0];

    it("queues nothing when the caller's transaction rolls back", async () => {
      await expect(
        transactions.run(async (tx) => {
          await repository.enqueue(tx, mail('rolled back'));
          throw new Error('the change failed');
        }),
      ).rejects.toThrow('the change failed');
      expect(await db.dataSource.query(`SELECT * FROM mail_outbox`)).toEqual([]);
    });

    it('makes a second counter for the same kind and address wait for the first transaction', async () => {
      const query = { kind: 'password_reset' as const, recipient: 'ann@example.com', withinSeconds: 3600 };
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let hasLock!: () => void;
      const locked = new Promise<void>((resolve) => (hasLock = resolve));
      const first = transactions.run(async (tx) => {
        const n = await repository.lockAndCountRecent(tx, query);
        hasLock();
        await held;
        await repository.enqueue(tx, mail('first'));
        return n;
      });
      await locked;
      const second = transactions.run((tx) => repository.lockAndCountRecent(tx, query));
      // Until the second transaction is seen waiting for the advisory lock.
      for (;;) {
        const [{ n }]: Array<{ n: number }> = await db.dataSource.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        if (n === 1) break;
        await sleep(10);
      }
      release();
      await expect(first).resolves.toBe(0);
      // It counts the mail the first one queued: both cannot pass the last free slot.
      await expect(second).resolves.toBe(1);
    });

    it('never gives the same mail to concurrent claims', async () => {
      await transactions.run(async (tx) => {
        for (let i = 0; i < 20; i += 1) await repository.enqueue(tx, mail(`mail ${i}`, `user${i}@example.com`));
      });
      const claims = await Promise.all(Array.from({ length: 4 }, () => repository.claimDue({ limit: 10, leaseSeconds: 120 })));
      const ids = claims.flat().map((m) => m.id);
      expect(ids).toHaveLength(20);
      expect(new Set(ids).size).toBe(20);
    });

    it('drops the body of a sent mail and keeps its row', async () => {
      await transactions.run((tx) => repository.enqueue(tx, mail('sent')));
      const [claimed] = await repository.claimDue({ limit: 1, leaseSeconds: 120 });
      await repository.markSent(claimed.id);
      expect(await row(claimed.id)).toMatchObject({
        status: 'sent',
        text_body: null,
        html_body: null,
        last_error: null,
        locked_until: null,
        attempts: 1,
      });
      expect((await row(claimed.id)).sent_at).toBeInstanceOf(Date);
    });

    it('drops the body of a mail given up, and keeps why', async () => {
      await transactions.run((tx) => repository.enqueue(tx, mail('failed')));
      const [claimed] = await repository.claimDue({ limit: 1, leaseSeconds: 120 });
      await repository.markFailed(claimed.id, 'mailbox does not exist');
      expect(await row(claimed.id)).toMatchObject({
        status: 'failed',
        text_body: null,
        html_body: null,
        last_error: 'mailbox does not exist',
        locked_until: null,
        sent_at: null,
      });
    });

    it('gives up the backlog query after its timeout, and answers again once the table is free', async () => {
      await transactions.run((tx) => repository.enqueue(tx, mail('waiting')));
      const locker = db.dataSource.createQueryRunner();
      await locker.startTransaction();
      try {
        // Blocks every read of the table, as a hung server would.
        await locker.query(`LOCK TABLE mail_outbox IN ACCESS EXCLUSIVE MODE`);
        const started = Date.now();
        await expect(repository.backlog({ timeoutMs: 200 })).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        await locker.rollbackTransaction();
        await locker.release();
      }
      await expect(repository.backlog({ timeoutMs: 5_000 })).resolves.toMatchObject({ pending: 1 });
    });

    it('keeps the body and the error of a rescheduled mail', async () => {
      await transactions.run((tx) => repository.enqueue(tx, mail('later')));
      const [claimed] = await repository.claimDue({ limit: 1, leaseSeconds: 120 });
      await repository.reschedule(claimed.id, { delayMs: 60_000, error: 'connection refused' });
      expect(await row(claimed.id)).toMatchObject({
        status: 'pending',
        text_body: 'a live token',
        html_body: '<p>a live token</p>',
        last_error: 'connection refused',
        locked_until: null,
        later: true,
      });
    });
  });
});
