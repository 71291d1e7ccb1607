import { Logger } from '@nestjs/common';

import { InMemoryAuditRepository } from '../../test/fakes/audit.repository.fake';
import type { DomainEvent } from '../events/events';
import { AppError, ErrorCode } from '../shared/errors/app-error';
import { AuditService } from './audit.service';

const USER = '00000000-0000-4000-8000-00000000000a';

describe('AuditService', () => {
  let repository: InMemoryAuditRepository;
  let audit: AuditService;

  beforeEach(() => {
    repository = new InMemoryAuditRepository();
    audit = new AuditService(repository);
  });

  afterEach(() => jest.restoreAllMocks());

  const event = (change: Partial<DomainEvent> = {}): DomainEvent => ({
    type: 'user.logged_in',
    userId: USER,
    at: '2026-01-01T10:00:00.000Z',
    ...change,
  });

  it('writes each event, its absent fields as null and a long user agent cut to 512 characters', async () => {
    audit.record(event({ userAgent: 'x'.repeat(600), ip: '203.0.113.9' }));
    audit.record(
      event({ type: 'user.roles_changed', actorId: USER, sessionId: USER, details: { roles: ['admin'] }, at: '2026-01-01T09:00:00.000Z' }),
    );
    await audit.flushed();
    const { items } = await audit.list({});
    expect(items).toEqual([
      {
        id: expect.any(String),
        type: 'user.logged_in',
        userId: USER,
        sessionId: null,
        actorId: null,
        ip: '203.0.113.9',
        userAgent: 'x'.repeat(512),
        details: null,
        at: '2026-01-01T10:00:00.000Z',
      },
      {
        id: expect.any(String),
        type: 'user.roles_changed',
        userId: USER,
        sessionId: USER,
        actorId: USER,
        ip: null,
        userAgent: null,
        details: { roles: ['admin'] },
        at: '2026-01-01T09:00:00.000Z',
      },
    ]);
  });

  it('logs a write that fails instead of throwing it, and still flushes', async () => {
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    jest.spyOn(repository, 'append').mockRejectedValueOnce(new Error('connection terminated'));
    audit.record(event({ type: 'user.login_failed' }));
    audit.record(event());
    await audit.flushed();
    expect(error).toHaveBeenCalledWith('audit entry for user.login_failed not written: connection terminated');
    expect((await audit.list({})).items.map((e) => e.type)).toEqual(['user.logged_in']);
  });

  it('waits in flushed() for writes still under way', async () => {
    let finish!: () => void;
    jest.spyOn(repository, 'append').mockImplementationOnce(() => new Promise<void>((resolve) => (finish = resolve)));
    audit.record(event());
    let flushed = false;
    const done = audit.flushed().then(() => (flushed = true));
    await Promise.resolve();
    expect(flushed).toBe(false);
    finish();
    await done;
    expect(flushed).toBe(true);
  });

  it('pages by fifty unless told, with an opaque cursor for the next page', async () => {
    for (let i = 0; i < 51; i += 1) audit.record(event({ at: new Date(Date.UTC(2026, 0, 1, 10, 0, i)).toISOString() }));
    await audit.flushed();
    const first = await audit.list({});
    expect(first.items).toHaveLength(50);
    expect(first.items[0].at).toBe('2026-01-01T10:00:50.000Z');
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await audit.list({ cursor: first.nextCursor! });
    expect(second).toEqual({ items: [expect.objectContaining({ at: '2026-01-01T10:00:00.000Z' })], nextCursor: null });
    const small = await audit.list({ limit: 20, type: 'user.logged_in', userId: USER });
    expect(small.items).toHaveLength(20);
  });

  it('refuses a cursor it did not issue as a validation failure', async () => {
    const error: unknown = await audit.list({ cursor: 'not-a-cursor' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(ErrorCode.VALIDATION_FAILED);
  });
});
