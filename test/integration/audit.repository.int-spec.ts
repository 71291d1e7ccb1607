import { PgAuditRepository } from '../../src/audit/audit.repository';
import { Transactions } from '../../src/platform/database/transactions';
import { describeAuditRepository } from '../contracts/audit.repository.contract';
import { migratedDatabase, type MigratedDatabase } from '../support/database';

describe('PgAuditRepository', () => {
  let db: MigratedDatabase;
  let repository: PgAuditRepository;

  beforeAll(async () => {
    db = await migratedDatabase('audit');
    repository = new PgAuditRepository(db.dataSource);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const reset = async (): Promise<void> => {
    await db.dataSource.query(`TRUNCATE audit_log`);
  };

  describeAuditRepository(() => Promise.resolve({ repository, transactions: new Transactions(db.dataSource), reset }));

  describe('in PostgreSQL', () => {
    beforeEach(reset);

    it('pages entries a microsecond apart, which a JavaScript date cannot tell apart', async () => {
      await db.dataSource.query(
        `INSERT INTO audit_log (type, at) SELECT 'user.logged_in', '2026-01-01T10:00:00.000100Z'::timestamptz + make_interval(secs => i / 1e6) FROM generate_series(0, 4) AS i`,
      );
      const seen: string[] = [];
      let after: { at: string; id: string } | undefined;
      do {
        const page = await repository.list({ limit: 1, after });
        seen.push(...page.items.map((e) => e.id));
        after = page.next ?? undefined;
        if (after) expect(after.at).toMatch(/^2026-01-01T10:00:00\.00010[0-4]Z$/);
      } while (after);
      const ids: Array<{ id: string }> = await db.dataSource.query(`SELECT id FROM audit_log ORDER BY at DESC, id DESC`);
      expect(seen).toEqual(ids.map((r) => r.id));
    });
  });
});
