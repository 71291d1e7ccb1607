import { MigrationInterface, QueryRunner } from 'typeorm';

export class AccountIntegrity1764400000000 implements MigrationInterface {
  name = 'AccountIntegrity1764400000000';

  async up(q: QueryRunner): Promise<void> {
    // A contested sign-up voids every password of the unverified account: no password until the
    // mailbox owner chooses one through a verification link (or a reset).
    await q.query(`ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL`);
    // Accounts contested under the old scheme (a pending sign-up password on a live link) are void now.
    await q.query(`
      UPDATE users SET password_hash = NULL, updated_at = now()
       WHERE email_verified = false
         AND id IN (SELECT user_id FROM email_verification_tokens WHERE password_hash IS NOT NULL AND used_at IS NULL AND expires_at > now())`);
    await q.query(`ALTER TABLE email_verification_tokens DROP COLUMN password_hash`);
    // A reset proves the mailbox it was sent to: bound to that address, it also verifies it.
    await q.query(`ALTER TABLE password_reset_tokens ADD COLUMN email text`);
    // The admin session an impersonation was started from: ending it ends the impersonation.
    await q.query(`ALTER TABLE sessions ADD COLUMN impersonator_session_id uuid REFERENCES sessions (id) ON DELETE SET NULL`);
    await q.query(
      `CREATE INDEX sessions_impersonator_session_idx ON sessions (impersonator_session_id) WHERE impersonator_session_id IS NOT NULL`,
    );
    await q.query(`CREATE INDEX sessions_impersonator_idx ON sessions (impersonator_id) WHERE impersonator_id IS NOT NULL`);
    // What an entry needs beyond its columns (the roles granted, the transport of a trusted login).
    await q.query(`ALTER TABLE audit_log ADD COLUMN details jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE audit_log DROP COLUMN details`);
    await q.query(`DROP INDEX sessions_impersonator_idx`);
    await q.query(`DROP INDEX sessions_impersonator_session_idx`);
    await q.query(`ALTER TABLE sessions DROP COLUMN impersonator_session_id`);
    await q.query(`ALTER TABLE password_reset_tokens DROP COLUMN email`);
    await q.query(`ALTER TABLE email_verification_tokens ADD COLUMN password_hash text`);
    // Voided passwords cannot come back: such accounts get an unusable hash.
    await q.query(`UPDATE users SET password_hash = '!' WHERE password_hash IS NULL`);
    await q.query(`ALTER TABLE users ALTER COLUMN password_hash SET NOT NULL`);
  }
}
