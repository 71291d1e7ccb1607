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

  it('queues the second-factor notices, unthrottled: on, off (by the user or an admin), and a recovery code used with the count left', async () => {
    await outbox.queueMfaEnabled(tx, 'ann@example.com');
    await outbox.queueMfaDisabled(tx, 'ann@example.com', { byAdmin: false });
    await outbox.queueMfaDisabled(tx, 'ann@example.com', { byAdmin: true });
    for (const remaining of [9, 1, 0]) await outbox.queueRecoveryCodeUsed(tx, 'ann@example.com', remaining);
    const mails = await queued();
    expect(mails.map((m) => m.subject)).toEqual([
      'Second factor turned on',
      'Second factor turned off',
      'Second factor turned off',
      'A recovery code was used (9 left)',
      'A recovery code was used (1 left)',
      'A recovery code was used (0 left)',
    ]);
    expect(mails[0].text).toContain('other sessions were signed out');
    expect(mails[1].text).not.toContain('administrator');
    expect(mails[2].text).toContain('An administrator turned off');
    expect(mails[3].text).toContain('You have 9 recovery codes left.');
    expect(mails[4].text).toContain('You have 1 recovery code left. Generate a new set');
    expect(mails[5].text).toContain('no recovery codes left');
    for (const mail of mails) expect(mail.text).toContain('https://id.example.com/forgot-password');
    for (const kind of ['mfa_enabled', 'mfa_disabled', 'recovery_code_used'] as const)
      await expect(outbox.mayQueue(tx, 'ann@example.com', kind)).resolves.toBe(true);
  });

  it('wakes the worker by an event', () => {
    const woken = jest.fn();
    events.on(MAIL_QUEUED, woken);
    outbox.wakeWorker();
    expect(woken).toHaveBeenCalledTimes(1);
  });
});
