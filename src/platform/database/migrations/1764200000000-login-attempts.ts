import { MigrationInterface, QueryRunner } from 'typeorm';

export class LoginAttempts1764200000000 implements MigrationInterface {
  name = 'LoginAttempts1764200000000';

  async up(q: QueryRunner): Promise<void> {
    // Consecutive failed logins per normalised email or username (known or not), and the lock.
    await q.query(`
      CREATE TABLE login_attempts (
        key text PRIMARY KEY,
        failures integer NOT NULL,
        locked_until timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE login_attempts`);
  }
}
