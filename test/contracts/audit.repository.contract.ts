import type { AuditEntry, AuditRepository, NewAuditEntry } from '../../src/audit/audit.repository';
import type { Transactions } from '../../src/platform/database/transactions';

export interface AuditRepositorySetup {
  repository: AuditRepository;
  transactions: { run: Transactions['run'] };
  reset(): Promise<void>;
}

const ANN = '00000000-0000-4000-8000-00000000000a';
const BOB = '00000000-0000-4000-8000-00000000000b';

const entry = (change: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  type: 'user.logged_in',
  userId: ANN,
  sessionId: null,
  actorId: null,
  ip: null,
  userAgent: null,
  details: null,
  at: '2026-01-01T10:00:00.000Z',
  ...change,
});

/** The behaviour every AuditRepository shows; run against PostgreSQL and the in-memory fake. */
export function describeAuditRepository(setup: () => Promise<AuditRepositorySetup>): void {
  describe('AuditRepository contract', () => {
    let repository: AuditRepository;

    beforeEach(async () => {
      const given = await setup();
      await given.reset();
      repository = given.repository;
    });

    /** Every entry matching, page by page. */
    async function allPages(query: { userId?: string; type?: string; limit: number }): Promise<AuditEntry[][]> {
      const pages: AuditEntry[][] = [];
      let after: { at: string; id: string } | undefined;
      do {
        const page = await repository.list({ ...query, after });
        pages.push(page.items);
        after = page.next ?? undefined;
      } while (after);
      return pages;
    }

    it('gives an empty page, and no next, for an empty log', async () => {
      await expect(repository.list({ limit: 10 })).resolves.toEqual({ items: [], next: null });
    });

    it('reads back what was appended, with an id of its own', async () => {
      await repository.append(
        entry({
          type: 'user.roles_changed',
          sessionId: '00000000-0000-4000-8000-000000000001',
          actorId: BOB,
          ip: '203.0.113.9',
          userAgent: 'curl/8',
          details: { roles: ['user', 'admin'] },
          at: '2026-01-01T10:00:00.123Z',
        }),
      );
      await repository.append(entry({ at: '2026-01-01T09:00:00.000Z' }));
      const { items, next } = await repository.list({ limit: 10 });
      expect(next).toBeNull();
      expect(items).toEqual([
        {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          type: 'user.roles_changed',
          userId: ANN,
          sessionId: '00000000-0000-4000-8000-000000000001',
          actorId: BOB,
          ip: '203.0.113.9',
          userAgent: 'curl/8',
          details: { roles: ['user', 'admin'] },
          at: '2026-01-01T10:00:00.123Z',
        },
        { id: expect.stringMatching(/^[0-9a-f-]{36}$/), ...entry({ at: '2026-01-01T09:00:00.000Z' }) },
      ]);
      expect(items[0].id).not.toBe(items[1].id);
    });

    it('lists newest first, whatever the order of appending', async () => {
      for (const at of ['2026-01-01T10:00:00.002Z', '2026-01-01T10:00:00.000Z', '2026-01-01T10:00:00.003Z', '2026-01-01T10:00:00.001Z']) {
        await repository.append(entry({ at }));
      }
      expect((await repository.list({ limit: 10 })).items.map((e) => e.at)).toEqual([
        '2026-01-01T10:00:00.003Z',
        '2026-01-01T10:00:00.002Z',
        '2026-01-01T10:00:00.001Z',
        '2026-01-01T10:00:00.000Z',
      ]);
    });

    it('orders entries of the same time by id, and pages through them without loss or repeat', async () => {
      for (let i = 0; i < 5; i += 1) await repository.append(entry());
      const all = (await repository.list({ limit: 10 })).items;
      const ids = all.map((e) => e.id);
      expect(ids).toEqual([...ids].sort().reverse());
      const pages = await allPages({ limit: 2 });
      expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
      expect(pages.flat()).toEqual(all);
    });

    it('pages newest first, with no next after the last page', async () => {
      for (let i = 0; i < 4; i += 1) await repository.append(entry({ at: `2026-01-01T10:00:0${i}.000Z` }));
      const first = await repository.list({ limit: 2 });
      expect(first.items.map((e) => e.at)).toEqual(['2026-01-01T10:00:03.000Z', '2026-01-01T10:00:02.000Z']);
      expect(first.next).not.toBeNull();
      const second = await repository.list({ limit: 2, after: first.next! });
      expect(second.items.map((e) => e.at)).toEqual(['2026-01-01T10:00:01.000Z', '2026-01-01T10:00:00.000Z']);
      expect(second.next).toBeNull();
    });

    it('filters by user, by type, and by both', async () => {
      await repository.append(entry({ userId: ANN, type: 'user.logged_in' }));
      await repository.append(entry({ userId: ANN, type: 'user.login_failed' }));
      await repository.append(entry({ userId: BOB, type: 'user.logged_in' }));
      await repository.append(entry({ userId: null, type: 'user.login_failed' }));
      const pick = async (q: { userId?: string; type?: string }) =>
        (await repository.list({ ...q, limit: 10 })).items
          .map((e) => `${e.userId === ANN ? 'ann' : e.userId === BOB ? 'bob' : '-'} ${e.type}`)
          .sort();
      expect(await pick({ userId: ANN })).toEqual(['ann user.logged_in', 'ann user.login_failed']);
      expect(await pick({ type: 'user.login_failed' })).toEqual(['- user.login_failed', 'ann user.login_failed']);
      expect(await pick({ userId: BOB, type: 'user.logged_in' })).toEqual(['bob user.logged_in']);
      expect(await pick({ userId: BOB, type: 'user.login_failed' })).toEqual([]);
    });

    it('pages within a filter', async () => {
      for (let i = 0; i < 3; i += 1) {
        await repository.append(entry({ userId: ANN, at: `2026-01-01T10:00:0${i}.000Z` }));
        await repository.append(entry({ userId: BOB, at: `2026-01-01T10:00:0${i}.500Z` }));
      }
      const pages = await allPages({ userId: BOB, limit: 2 });
      expect(pages.map((p) => p.map((e) => e.at))).toEqual([
        ['2026-01-01T10:00:02.500Z', '2026-01-01T10:00:01.500Z'],
        ['2026-01-01T10:00:00.500Z'],
      ]);
    });

    it('has no next when the entries fill the page exactly', async () => {
      await repository.append(entry());
      await repository.append(entry());
      await expect(repository.list({ limit: 2 })).resolves.toMatchObject({ next: null });
    });
  });
}
