import { MigrationInterface, QueryRunner } from 'typeorm';

export class VerificationPendingPassword1764300000000 implements MigrationInterface {
  name = 'VerificationPendingPassword1764300000000';

  async up(q: QueryRunner): Promise<void> {
    // The password of a sign-up for an address whose account is still unverified: whoever proves the
    // mailbox through this token gets it, so nobody can pre-register someone else's address.
    await q.query(`ALTER TABLE email_verification_tokens ADD COLUMN password_hash text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE email_verification_tokens DROP COLUMN password_hash`);
  }
}
