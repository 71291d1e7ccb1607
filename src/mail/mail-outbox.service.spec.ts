import { EventEmitter2 } from '@nestjs/event-emitter';

import { InMemoryMailOutboxRepository } from '../../test/fakes/mail-outbox.repository.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import type { AppConfig } from '../platform/config/app-config';
import { MAIL_QUEUED, MailOutbox } from './mail-outbox.service';

const tx = IN_MEMORY_TX;

describe('MailOutbox', () => {
  let repository: InMemoryMailOutboxRepository;
  let events: EventEmitter2;
  let outbox: MailOutbox;

  beforeEach(() => {
    repository = new InMemoryMailOutboxRepository();
    events = new EventEmitter2();
    const config = { appUrl: 'https://id.example.com', tokens: { emailVerificationTtl: 86_400, passwordResetTtl: 3600 } } as AppConfig;
    outbox = new MailOutbox(config, events, repository);
  });

  const queued = () => repository.claimDue({ limit: 100, leaseSeconds: 60 });

  it('lets five mails of a throttled kind go to an address per hour, then refuses', async () => {
    const answers: boolean[] = [];
    for (let i = 0; i < 6; i += 1) {
      const may = await outbox.mayQueue(tx, 'ann@example.com', 'password_reset');
      answers.push(may);
      if (may) await outbox.queuePasswordReset(tx, 'ann@example.com', `token${i}`);
    }
    expect(answers).toEqual([true, true, true, true, true, false]);
    expect(await queued()).toHaveLength(5);
  });

  it('throttles each kind and address on its own', async () => {
    for (let i = 0; i < 5; i += 1) await outbox.queuePasswordReset(tx, 'ann@example.com', `token${i}`);
    await expect(outbox.mayQueue(tx, 'ann@example.com', 'password_reset')).resolves.toBe(false);
    await expect(outbox.mayQueue(tx, 'ann@example.com', 'verify_email')).resolves.toBe(true);
    await expect(outbox.mayQueue(tx, 'bob@example.com', 'password_reset')).resolves.toBe(true);
  });

  it('never throttles the notice of a changed password', async () => {
    for (let i = 0; i < 10; i += 1) await outbox.queuePasswordChanged(tx, 'ann@example.com');
    await expect(outbox.mayQueue(tx, 'ann@example.com', 'password_changed')).resolves.toBe(true);
  });

  it('queues each mail rendered, its link built from the app URL', async () => {
    await outbox.queueVerifyEmail(tx, 'ann@example.com', 'a b');
    await outbox.queueVerifyEmail(tx, 'ann@example.com', 'contested', true);
    await outbox.queuePasswordReset(tx, 'ann@example.com', 'reset-token');
    await outbox.queueUsernameTaken(tx, 'ann@example.com', 'ann');
    await outbox.queueAccountExists(tx, 'ann@example.com');
    const mails = await queued();
    expect(mails.map((m) => [m.recipient, m.subject])).toEqual([
      ['ann@example.com', 'Confirm your email address'],
      ['ann@example.com', 'Confirm your email address and choose a password'],
      ['ann@example.com', 'Reset your password'],
      ['ann@example.com', 'That username is taken'],
      ['ann@example.com', 'You already have an account'],
    ]);
    expect(mails[0].text).toContain('https://id.example.com/verify-email?token=a%20b');
    expect(mails[0].html).toContain('https://id.example.com/verify-email?token=a%20b');
    expect(mails[2].text).toContain('https://id.example.com/reset-password?token=reset-token');
    expect(mails[4].text).toContain('https://id.example.com/forgot-password');
  });

  it('wakes the worker by an event', () => {
    const woken = jest.fn();
    events.on(MAIL_QUEUED, woken);
    outbox.wakeWorker();
    expect(woken).toHaveBeenCalledTimes(1);
  });
});
