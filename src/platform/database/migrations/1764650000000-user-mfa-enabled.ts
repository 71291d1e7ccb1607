import { MigrationInterface, QueryRunner } from 'typeorm';

export class UserMfaEnabled1764650000000 implements MigrationInterface {
  name = 'UserMfaEnabled1764650000000';

  async up(q: QueryRunner): Promise<void> {
    // Whether a sign-in needs a second factor, on the row every login already reads: the gate costs
    // no statement of its own. Kept by the database from the factors themselves, in the same
    // transaction as the change of a factor, so it can neither be forgotten nor drift.
    await q.query(`ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false`);
    await q.query(`
      CREATE FUNCTION gatehouse_sync_mfa_enabled() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        affected uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END;
      BEGIN
        UPDATE users SET mfa_enabled = EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = affected AND confirmed_at IS NOT NULL)
         WHERE id = affected;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER mfa_totp_sync_mfa_enabled AFTER INSERT OR DELETE OR UPDATE OF confirmed_at ON mfa_totp
        FOR EACH ROW EXECUTE FUNCTION gatehouse_sync_mfa_enabled()`);
    await q.query(`UPDATE users SET mfa_enabled = true WHERE id IN (SELECT user_id FROM mfa_totp WHERE confirmed_at IS NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER mfa_totp_sync_mfa_enabled ON mfa_totp`);
    await q.query(`DROP FUNCTION gatehouse_sync_mfa_enabled()`);
    await q.query(`ALTER TABLE users DROP COLUMN mfa_enabled`);
  }
}
