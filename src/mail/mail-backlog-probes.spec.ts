import { MetricsService } from '../platform/observability/metrics/metrics.service';
import { InMemoryMailOutboxRepository } from '../../test/fakes/mail-outbox.repository.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import { MailBacklogProbes } from './mail-backlog-probes';

const HOUR_MS = 3_600_000;

describe('MailBacklogProbes', () => {
  let now: number;
  let repository: InMemoryMailOutboxRepository;
  let metrics: MetricsService;

  /** The probes plugged into a real MetricsService, over the in-memory outbox. */
  function plugIn(): void {
    metrics = new MetricsService();
    new MailBacklogProbes(repository, metrics).onModuleInit();
  }

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    repository = new InMemoryMailOutboxRepository(() => now);
  });

  const queue = (subject: string) =>
    repository.enqueue(IN_MEMORY_TX, { kind: 'password_reset', recipient: 'ann@example.com', subject, text: 'text', html: '<p>html</p>' });

  async function pendingGauge(): Promise<number | undefined> {
    const text = await metrics.registry.getSingleMetricAsString('gatehouse_mail_outbox_pending');
    const sample = /^gatehouse_mail_outbox_pending (\d+)$/m.exec(text);
    return sample ? Number(sample[1]) : undefined;
  }

  describe('the gatehouse_mail_outbox_pending gauge', () => {
    it('counts the mail not yet sent, whether waiting, being sent or waiting for a retry', async () => {
      plugIn();
      await expect(pendingGauge()).resolves.toBe(0);
      for (const subject of ['a', 'b', 'c', 'd']) await queue(subject);
      const [a, b, c] = await repository.claimDue({ limit: 3, leaseSeconds: 120 });
      await repository.markSent(a.id);
      await repository.reschedule(b.id, { delayMs: HOUR_MS, error: 'refused' });
      await repository.markFailed(c.id);
      // b waiting for a retry and d waiting.
      await expect(pendingGauge()).resolves.toBe(2);
    });

    it('keeps its name and help, and is absent while the database does not answer', async () => {
      plugIn();
      jest.spyOn(repository, 'countPending').mockRejectedValueOnce(new Error('connection refused'));
      expect(await metrics.registry.getSingleMetricAsString('gatehouse_mail_outbox_pending')).toBe(
        '# HELP gatehouse_mail_outbox_pending Outbox mails not yet sent (waiting, being sent, or waiting for a retry); absent when the database did not answer.\n'
        + '# TYPE gatehouse_mail_outbox_pending gauge',
      );
      await queue('a');
      await expect(pendingGauge()).resolves.toBe(1);
    });
  });
});
