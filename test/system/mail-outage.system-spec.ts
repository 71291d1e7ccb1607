import { ownDatabase } from '../support/services';
import { SmtpSink } from '../support/smtp-sink';
import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the outbox loses nothing and sends nothing twice', () => {
  const sink = new SmtpSink();
  let a: TestApp;
  let b: TestApp;
  let db: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    await sink.start();
    // Its own database: the sink's counts must not include other suites' leftover mail.
    db = await ownDatabase('mailoutage');
    const env = { DATABASE_URL: db.url, SMTP_URL: sink.url, REQUIRE_EMAIL_VERIFICATION: 'true', OUTBOX_RETRY_BASE_MS: '100' };
    // Two instances, so two workers, on one database and one SMTP server.
    a = await startTestApp(env);
    b = await startTestApp(env);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await sink.stop();
    await db.drop();
  });

  it('SMTP down while 20 resets and 20 registrations are requested: answers unchanged, then every mail arrives exactly once', async () => {
    // 20 existing users (their verification mails arrive while the server is up).
    const existing = Array.from({ length: 20 }, () => uniqueUser('outage'));
    await Promise.all(existing.map((u, i) => (i % 2 ? a : b).http().post('/auth/register').send(u).expect(202)));
    await sink.waitFor(20);
    const before = sink.received.length;

    await sink.stop();
    const newcomers = Array.from({ length: 20 }, () => uniqueUser('newcomer'));
    const answers = await Promise.all([
      ...existing.map((u, i) => (i % 2 ? a : b).http().post('/auth/password/forgot').send({ email: u.email })),
      ...newcomers.map((u, i) => (i % 2 ? b : a).http().post('/auth/register').send(u)),
    ]);
    // The outage changes no answer.
    expect(answers.slice(0, 20).every((r) => r.status === 202 && r.text === '')).toBe(true);
    expect(answers.slice(20).every((r) => r.status === 202 && r.body.status === 'verification_sent')).toBe(true);

    // Let the workers fail a few times against the dead server.
    await sleep(800);
    const failing = await a.db.query(
      `SELECT count(*)::int AS n, max(attempts) AS attempts FROM mail_outbox WHERE status IN ('pending', 'sending') AND recipient = ANY($1)`,
      [[...existing, ...newcomers].map((u) => u.email)],
    );
    expect(failing[0].n).toBe(40);
    expect(failing[0].attempts).toBeGreaterThanOrEqual(2);
    expect(sink.received.length).toBe(before);

    await sink.start();
    await sink.waitFor(before + 40, undefined, 30_000);
    await sleep(500); // any duplicate would have arrived by now
    for (const u of existing) expect(sink.to(u.email).filter((m) => m.subject === 'Reset your password')).toHaveLength(1);
    for (const u of newcomers) expect(sink.to(u.email)).toHaveLength(1);
    expect(sink.received.length).toBe(before + 40);
    expect(new Set(sink.received.map((m) => m.messageId)).size).toBe(sink.received.length);
    const rows = await a.db.query(
      `SELECT status, count(*)::int AS n, count(text_body)::int AS bodies FROM mail_outbox WHERE recipient = ANY($1) GROUP BY status`,
      [[...existing, ...newcomers].map((u) => u.email)],
    );
    expect(rows).toEqual([{ status: 'sent', n: 60, bodies: 0 }]);
  });

  it('two workers draining one backlog never send a mail twice', async () => {
    await sink.stop();
    const users = Array.from({ length: 30 }, () => uniqueUser('twoworkers'));
    await Promise.all(users.map((u, i) => (i % 2 ? a : b).http().post('/auth/register').send(u).expect(202)));
    await sleep(300);
    const before = sink.received.length;
    await sink.start();
    // Both workers wake on their own timers and race for the same due rows.
    await sink.waitFor(before + 30, undefined, 30_000);
    await sleep(500);
    for (const u of users) expect(sink.to(u.email)).toHaveLength(1);
    expect(sink.received.length).toBe(before + 30);
  });
});
