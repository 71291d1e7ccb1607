import type { MailOutboxRepository } from '../../src/mail/mail-outbox.repository';
import type { MailKind } from '../../src/mail/templates';
import type { Transactions } from '../../src/platform/database/transactions';

export interface MailOutboxRepositorySetup {
  repository: MailOutboxRepository;
  transactions: { run: Transactions['run'] };
  reset(): Promise<void>;
}

const LEASE = 120;

/** The behaviour every MailOutboxRepository shows; run against PostgreSQL and the in-memory fake. */
export function describeMailOutboxRepository(setup: () => Promise<MailOutboxRepositorySetup>): void {
  describe('MailOutboxRepository contract', () => {
    let repository: MailOutboxRepository;
    let transactions: MailOutboxRepositorySetup['transactions'];

    beforeEach(async () => {
      const given = await setup();
      await given.reset();
      ({ repository, transactions } = given);
    });

    const queue = (subject: string, recipient = 'ann@example.com', kind: MailKind = 'verify_email'): Promise<void> =>
      transactions.run((tx) => repository.enqueue(tx, { kind, recipient, subject, text: `text of ${subject}`, html: `<p>${subject}</p>` }));
    const claim = (limit = 10, leaseSeconds = LEASE) => repository.claimDue({ limit, leaseSeconds });
    const recent = (recipient: string, kind: MailKind, withinSeconds = 3600) =>
      transactions.run((tx) => repository.lockAndCountRecent(tx, { kind, recipient, withinSeconds }));

    it('claims a queued mail at once, with its content and a first attempt', async () => {
      await queue('hello');
      const [mail, ...more] = await claim();
      expect(more).toEqual([]);
      expect(mail).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        recipient: 'ann@example.com',
        subject: 'hello',
        text: 'text of hello',
        html: '<p>hello</p>',
        attempts: 1,
      });
    });

    it('does not claim a mail again while its claim lasts', async () => {
      await queue('hello');
      expect(await claim()).toHaveLength(1);
      expect(await claim()).toEqual([]);
    });

    it('claims a mail again once its claim has run out, counting the attempt', async () => {
      await queue('hello');
      await claim(10, 0);
      await expect(claim()).resolves.toMatchObject([{ subject: 'hello', attempts: 2 }]);
    });

    it('claims at most the limit, oldest due first', async () => {
      for (const subject of ['a', 'b', 'c']) await queue(subject);
      expect((await claim(1)).map((m) => m.subject)).toEqual(['a']);
      expect((await claim(1)).map((m) => m.subject)).toEqual(['b']);
      expect((await claim(5)).map((m) => m.subject)).toEqual(['c']);
    });

    it('puts a rescheduled mail after the ones already due', async () => {
      await queue('a');
      await queue('b');
      const [a] = await claim(1);
      await repository.reschedule(a.id, { delayMs: 0, error: 'refused' });
      expect((await claim(1)).map((m) => m.subject)).toEqual(['b']);
      await expect(claim(1)).resolves.toMatchObject([{ id: a.id, subject: 'a', text: 'text of a', attempts: 2 }]);
    });

    it('does not claim a rescheduled mail before its time', async () => {
      await queue('hello');
      const [mail] = await claim();
      await repository.reschedule(mail.id, { delayMs: 3_600_000, error: 'refused' });
      expect(await claim()).toEqual([]);
    });

    it('never claims a mail again once sent or given up', async () => {
      await queue('sent');
      await queue('failed');
      const claimed = await claim(10, 0);
      await repository.markSent(claimed.find((m) => m.subject === 'sent')!.id);
      await repository.markFailed(claimed.find((m) => m.subject === 'failed')!.id, 'mailbox does not exist');
      expect(await claim()).toEqual([]);
    });

    it('counts the mails of a kind queued for an address, sent ones included', async () => {
      await queue('1');
      await queue('2');
      await queue('other kind', 'ann@example.com', 'password_reset');
      await queue('other address', 'bob@example.com');
      const [first] = await claim(1);
      await repository.markSent(first.id);
      await expect(recent('ann@example.com', 'verify_email')).resolves.toBe(2);
      await expect(recent('ann@example.com', 'password_reset')).resolves.toBe(1);
      await expect(recent('carol@example.com', 'verify_email')).resolves.toBe(0);
    });

    it('counts only the mails within the window', async () => {
      await queue('1');
      await expect(recent('ann@example.com', 'verify_email', 0)).resolves.toBe(0);
    });

    const backlog = () => repository.backlog({ timeoutMs: 5000 });
    // A retry due in the past is the contract's one way to age a mail.
    const backdate = async (id: string, seconds: number) => repository.reschedule(id, { delayMs: -seconds * 1000, error: 'refused' });

    it('has no backlog when nothing was queued', async () => {
      await expect(repository.countPending()).resolves.toBe(0);
      await expect(backlog()).resolves.toEqual({ pending: 0, oldestDueSeconds: null });
    });

    it('counts a queued mail as pending and due', async () => {
      await queue('hello');
      await expect(repository.countPending()).resolves.toBe(1);
      const { pending, oldestDueSeconds } = await backlog();
      expect(pending).toBe(1);
      expect(oldestDueSeconds).toBeGreaterThanOrEqual(0);
      expect(oldestDueSeconds).toBeLessThan(60);
    });

    it('counts mail being sent or waiting for a retry as pending, but not as due', async () => {
      await queue('being sent');
      await queue('retry later');
      const [, later] = await claim(2);
      await repository.reschedule(later.id, { delayMs: 3_600_000, error: 'refused' });
      await expect(repository.countPending()).resolves.toBe(2);
      await expect(backlog()).resolves.toEqual({ pending: 2, oldestDueSeconds: null });
    });

    it('gives the age of the oldest due mail', async () => {
      for (const subject of ['a', 'b', 'c']) await queue(subject);
      const [a, b, c] = await claim(3);
      await backdate(a.id, 600);
      await backdate(b.id, 3_600);
      await repository.reschedule(c.id, { delayMs: 3_600_000, error: 'refused' });
      const { pending, oldestDueSeconds } = await backlog();
      expect(pending).toBe(3);
      expect(oldestDueSeconds).toBeGreaterThanOrEqual(3_600);
      expect(oldestDueSeconds).toBeLessThan(3_660);
    });

    it('counts a claim that ran out as due again', async () => {
      await queue('hello');
      await claim(10, 0);
      const { pending, oldestDueSeconds } = await backlog();
      expect(pending).toBe(1);
      expect(oldestDueSeconds).toBeGreaterThanOrEqual(0);
      expect(oldestDueSeconds).toBeLessThan(60);
    });

    it('leaves sent mail and mail given up out of the backlog', async () => {
      await queue('sent');
      await queue('failed');
      const claimed = await claim(10, 0);
      await repository.markSent(claimed.find((m) => m.subject === 'sent')!.id);
      await repository.markFailed(claimed.find((m) => m.subject === 'failed')!.id, 'mailbox does not exist');
      await expect(repository.countPending()).resolves.toBe(0);
      await expect(backlog()).resolves.toEqual({ pending: 0, oldestDueSeconds: null });
    });

    it('counts a mail queued earlier in the same transaction', async () => {
      const counted = await transactions.run(async (tx) => {
        await repository.enqueue(tx, { kind: 'username_taken', recipient: 'ann@example.com', subject: 's', text: 't', html: 'h' });
        return repository.lockAndCountRecent(tx, { kind: 'username_taken', recipient: 'ann@example.com', withinSeconds: 3600 });
      });
      expect(counted).toBe(1);
    });
  });
}
