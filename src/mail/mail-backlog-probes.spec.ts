import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';

import { InMemoryMailOutboxRepository } from '../../test/fakes/mail-outbox.repository.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import type { AppConfig } from '../platform/config/app-config';
import type { DatabaseConnection } from '../platform/database/database-connection';
import { ReadinessChecks } from '../platform/observability/health/readiness-checks';
import { MetricsService } from '../platform/observability/metrics/metrics.service';
import { MailBacklogProbes } from './mail-backlog-probes';

const HOUR_MS = 3_600_000;

describe('MailBacklogProbes', () => {
  let now: number;
  let repository: InMemoryMailOutboxRepository;
  let database: Pick<DatabaseConnection, 'state' | 'ready'>;
  let readiness: ReadinessChecks;
  let metrics: MetricsService;

  /** The probes plugged into a real ReadinessChecks and MetricsService, over the in-memory outbox. */
  function plugIn(outboxMaxDueAgeSeconds = 0): void {
    const config = { health: { timeoutMs: 1000, outboxMaxDueAgeSeconds } } as AppConfig;
    const dataSource = { driver: { master: { query: () => Promise.resolve({ rows: [] }) } } } as unknown as DataSource;
    readiness = new ReadinessChecks(config, dataSource, database as DatabaseConnection, new HealthIndicatorService());
    metrics = new MetricsService();
    new MailBacklogProbes(config, repository, readiness, metrics).onModuleInit();
  }

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    repository = new InMemoryMailOutboxRepository(() => now);
    database = { state: 'ready', ready: true };
  });

  const queue = (subject: string) =>
    repository.enqueue(IN_MEMORY_TX, { kind: 'password_reset', recipient: 'ann@example.com', subject, text: 'text', html: '<p>html</p>' });

  /** The outbox entry of GET /health/ready. */
  async function outboxEntry(): Promise<HealthIndicatorResult[string]> {
    const results = await Promise.all(readiness.list().map((check) => check()));
    const body = Object.assign({}, ...results) as HealthIndicatorResult;
    expect(Object.keys(body)).toEqual(['database', 'outbox']);
    return body.outbox;
  }

  async function pendingGauge(): Promise<number | undefined> {
    const text = await metrics.registry.getSingleMetricAsString('gatehouse_mail_outbox_pending');
    const sample = /^gatehouse_mail_outbox_pending (\d+)$/m.exec(text);
    return sample ? Number(sample[1]) : undefined;
  }

  describe('the outbox readiness check', () => {
    it('reports an empty outbox up, with nothing pending and an age of 0', async () => {
      plugIn();
      await expect(outboxEntry()).resolves.toEqual({ status: 'up', pending: 0, oldestDueSeconds: 0 });
    });

    it('reports the mail not yet sent and the age of the oldest due one', async () => {
      plugIn();
      await queue('oldest');
      now += 600_000;
      await queue('newer');
      const [oldest] = await repository.claimDue({ limit: 1, leaseSeconds: 120 });
      expect(oldest.subject).toBe('oldest');
      now += 60_000;
      // The one being sent is pending but not due; the newer one has been due for 60 s.
      await expect(outboxEntry()).resolves.toEqual({ status: 'up', pending: 2, oldestDueSeconds: 60 });
    });

    it('never fails readiness by default, however old the due mail (decision 0022)', async () => {
      plugIn();
      await queue('stuck');
      now += 24 * HOUR_MS;
      await expect(outboxEntry()).resolves.toEqual({ status: 'up', pending: 1, oldestDueSeconds: 86_400 });
    });

    it('fails readiness above HEALTH_OUTBOX_MAX_DUE_AGE, and recovers once the mail is taken', async () => {
      plugIn(600);
      await queue('stuck');
      now += 60_000;
      await expect(outboxEntry()).resolves.toEqual({ status: 'up', pending: 1, oldestDueSeconds: 60 });
      now += HOUR_MS;
      await expect(outboxEntry()).resolves.toEqual({
        status: 'down',
        pending: 1,
        oldestDueSeconds: 3_660,
        message: 'due mail has waited 3660 s for a worker (limit 600 s)',
      });
      const [mail] = await repository.claimDue({ limit: 1, leaseSeconds: 120 });
      await repository.markSent(mail.id);
      await expect(outboxEntry()).resolves.toEqual({ status: 'up', pending: 0, oldestDueSeconds: 0 });
    });

    it('asks the repository with the readiness timeout', async () => {
      plugIn();
      const backlog = jest.spyOn(repository, 'backlog');
      await outboxEntry();
      expect(backlog).toHaveBeenCalledWith({ timeoutMs: 1000 });
    });

    it('is down, without querying, until the database is connected', async () => {
      database = { state: 'connecting', ready: false };
      plugIn();
      const backlog = jest.spyOn(repository, 'backlog');
      await expect(outboxEntry()).resolves.toEqual({ status: 'down', message: 'not connected yet' });
      expect(backlog).not.toHaveBeenCalled();
    });

    it("is down, without the error's text, when the query fails", async () => {
      plugIn(600);
      jest.spyOn(repository, 'backlog').mockRejectedValue(new Error('connect ECONNREFUSED 10.0.0.5:5432'));
      await expect(outboxEntry()).resolves.toEqual({ status: 'down', message: 'unreachable' });
    });
  });

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
        '# HELP gatehouse_mail_outbox_pending Outbox mails not yet sent (waiting, being sent, or waiting for a retry); absent when the database did not answer.\n' +
          '# TYPE gatehouse_mail_outbox_pending gauge',
      );
      await queue('a');
      await expect(pendingGauge()).resolves.toBe(1);
    });
  });
});
