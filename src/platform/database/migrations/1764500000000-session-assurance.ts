import { MigrationInterface, QueryRunner } from 'typeorm';

export class SessionAssurance1764500000000 implements MigrationInterface {
  name = 'SessionAssurance1764500000000';

  async up(q: QueryRunner): Promise<void> {
    // How the session's user authenticated (RFC 8176 `amr`), at which assurance level, and when a
    // factor was last proven; tokens carry them and a refresh keeps them. Sessions opened before
    // this release were password logins (or service-granted ones, which cannot be told apart now).
    await q.query(`
      ALTER TABLE sessions
        ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}',
        ADD COLUMN aal smallint NOT NULL DEFAULT 1 CHECK (aal IN (1, 2)),
        ADD COLUMN auth_time timestamptz`);
    await q.query(`UPDATE sessions SET auth_time = created_at`);
    // Every new session states them: no default to fall back on by mistake.
    await q.query(`
      ALTER TABLE sessions
        ALTER COLUMN amr DROP DEFAULT,
        ALTER COLUMN aal DROP DEFAULT,
        ALTER COLUMN auth_time SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions DROP COLUMN auth_time, DROP COLUMN aal, DROP COLUMN amr`);
  }
}
