import { Logger } from '@nestjs/common';

import { InMemoryMailOutboxRepository } from '../../test/fakes/mail-outbox.repository.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import type { AppConfig } from '../platform/config/app-config';
import type { DatabaseConnection } from '../platform/database/database-connection';
import { MetricsService } from '../platform/observability/metrics/metrics.service';
import type { MailTransport, OutgoingMail } from './mail-transport.service';
import { OutboxWorker } from './outbox-worker.service';

const BASE_MS = 1000;

describe('OutboxWorker', () => {
  let now: number;
  let repository: InMemoryMailOutboxRepository;
  let sent: OutgoingMail[];
  let failing: boolean;
  let metrics: MetricsService;
  let errors: jest.SpyInstance;

  function worker(maxAttempts = 5, retryBaseMs = BASE_MS): OutboxWorker {
    const config = { mail: { retryBaseMs, maxAttempts, pollMs: 1000 } } as AppConfig;
    const transport = {
      send: (mail: OutgoingMail) => (failing ? Promise.reject(new Error('connection refused')) : Promise.resolve(void sent.push(mail))),
    } as MailTransport;
    return new OutboxWorker(config, repository, transport, {} as DatabaseConnection, metrics);
  }

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    repository = new InMemoryMailOutboxRepository(() => now);
    sent = [];
    failing = false;
    metrics = new MetricsService();
    jest.spyOn(metrics, 'mailDelivered');
    jest.spyOn(metrics, 'mailSendFailed');
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  const queue = (subject: string) =>
    repository.enqueue(IN_MEMORY_TX, { kind: 'password_reset', recipient: 'ann@example.com', subject, text: 'text', html: '<p>html</p>' });

  it('sends the due mail once, with its outbox id', async () => {
    await queue('a');
    await queue('b');
    const w = worker();
    await expect(w.drainOnce()).resolves.toBe(2);
    expect(sent.map((m) => [m.to, m.subject, m.text, m.html])).toEqual([
      ['ann@example.com', 'a', 'text', '<p>html</p>'],
      ['ann@example.com', 'b', 'text', '<p>html</p>'],
    ]);
    expect(sent[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(metrics.mailDelivered).toHaveBeenCalledTimes(2);
    // Sent mail is done, however long one waits.
    now += 86_400_000;
    await expect(w.drainOnce()).resolves.toBe(0);
    expect(sent).toHaveLength(2);
  });

  it('sends at most a batch of ten at a time', async () => {
    for (let i = 0; i < 12; i += 1) await queue(`mail ${i}`);
    const w = worker();
    await expect(w.drainOnce()).resolves.toBe(10);
    await expect(w.drainOnce()).resolves.toBe(2);
  });

  it('retries a failed send after a delay that doubles with each attempt', async () => {
    await queue('a');
    const w = worker();
    failing = true;
    await expect(w.drainOnce()).resolves.toBe(1);
    for (const delay of [BASE_MS, 2 * BASE_MS, 4 * BASE_MS]) {
      now += delay - 1;
      await expect(w.drainOnce()).resolves.toBe(0);
      now += 1;
      await expect(w.drainOnce()).resolves.toBe(1);
    }
    expect(sent).toEqual([]);
    expect(metrics.mailSendFailed).toHaveBeenCalledTimes(4);
    expect(metrics.mailSendFailed).toHaveBeenLastCalledWith(false);
  });

  it('never waits more than an hour between attempts', async () => {
    await queue('a');
    const w = worker(10, 1_000_000);
    failing = true;
    await expect(w.drainOnce()).resolves.toBe(1);
    now += 1_000_000;
    await expect(w.drainOnce()).resolves.toBe(1);
    now += 2_000_000;
    await expect(w.drainOnce()).resolves.toBe(1);
    // The third delay would be 4 000 000 ms.
    now += 3_600_000 - 1;
    await expect(w.drainOnce()).resolves.toBe(0);
    now += 1;
    await expect(w.drainOnce()).resolves.toBe(1);
  });

  it('gives up after the last attempt, and counts and logs it', async () => {
    await queue('a');
    const w = worker(2);
    failing = true;
    await w.drainOnce();
    now += BASE_MS;
    await expect(w.drainOnce()).resolves.toBe(1);
    expect(metrics.mailSendFailed).toHaveBeenLastCalledWith(true);
    expect(errors).toHaveBeenCalledWith(expect.stringContaining('failed for good after 2 attempts: connection refused'));
    failing = false;
    now += 86_400_000;
    await expect(w.drainOnce()).resolves.toBe(0);
    expect(sent).toEqual([]);
  });

  it('sends a retried mail once the transport works again', async () => {
    await queue('a');
    const w = worker();
    failing = true;
    await w.drainOnce();
    failing = false;
    now += BASE_MS;
    await expect(w.drainOnce()).resolves.toBe(1);
    expect(sent.map((m) => m.subject)).toEqual(['a']);
  });
});
