import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditLog1764000000000 implements MigrationInterface {
  name = 'AuditLog1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_log (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        type text NOT NULL,
        user_id uuid,
        session_id uuid,
        actor_id uuid,
        ip text,
        user_agent text,
        at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC)`);
    await q.query(`CREATE INDEX audit_log_user_idx ON audit_log (user_id, at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
  }
}
