import { MigrationInterface, QueryRunner } from 'typeorm';

export class SelfService1764700000000 implements MigrationInterface {
  name = 'SelfService1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users ADD COLUMN display_name text`);
    // Set by a deletion request: the account is gone for every caller at once and erased after this time.
    await q.query(`ALTER TABLE users ADD COLUMN erase_after timestamptz`);
    await q.query(`CREATE INDEX users_erase_after_idx ON users (erase_after) WHERE erase_after IS NOT NULL`);
    // A requested address change: the link's token (hashed) is bound to the new address and to the
    // session that asked, which outlives the confirmation when every other session ends.
    await q.query(`
      CREATE TABLE email_change_tokens (
        token_hash text PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        email text NOT NULL,
        session_id uuid,
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX email_change_tokens_user_idx ON email_change_tokens (user_id)`);
    await q.query(`CREATE INDEX email_change_tokens_email_idx ON email_change_tokens (email)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE email_change_tokens`);
    await q.query(`DROP INDEX users_erase_after_idx`);
    await q.query(`ALTER TABLE users DROP COLUMN erase_after`);
    await q.query(`ALTER TABLE users DROP COLUMN display_name`);
  }
}
