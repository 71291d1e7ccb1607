import { MigrationInterface, QueryRunner } from 'typeorm';

export class Mfa1764600000000 implements MigrationInterface {
  name = 'Mfa1764600000000';

  async up(q: QueryRunner): Promise<void> {
    // One TOTP factor per user, pending while confirmed_at is null. The secret is AES-256-GCM
    // ciphertext; last_step is the last time step accepted, so a code works once.
    await q.query(`
      CREATE TABLE mfa_totp (
        user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        secret_enc bytea NOT NULL,
        confirmed_at timestamptz,
        last_step bigint,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // argon2id hashes; the lookup is the code's non-secret prefix, so an attempt costs one verify.
    await q.query(`
      CREATE TABLE mfa_recovery_codes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        lookup text NOT NULL,
        code_hash text NOT NULL,
        used_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (user_id, lookup)
      )`);
    // The step between the first and the second factor; the token is stored as its SHA-256.
    await q.query(`
      CREATE TABLE mfa_challenges (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        token_hash text NOT NULL UNIQUE,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        login_context jsonb NOT NULL,
        first_factor text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        expires_at timestamptz NOT NULL,
        consumed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id)`);
    // What the purge scans.
    await q.query(`CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at)`);
    // Consecutive second-factor failures per account, and the lock they start.
    await q.query(`
      CREATE TABLE mfa_lockouts (
        user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
        failures integer NOT NULL,
        locked_until timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // The generated key for TOTP secrets when MFA_ENCRYPTION_KEY is unset, shared by every instance.
    await q.query(`
      CREATE TABLE mfa_encryption_keys (
        kid text PRIMARY KEY,
        key bytea NOT NULL,
        current boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    // Instances starting together race to generate the first key; this index lets exactly one win.
    await q.query(`CREATE UNIQUE INDEX mfa_encryption_keys_current_key ON mfa_encryption_keys (current) WHERE current`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE mfa_encryption_keys`);
    await q.query(`DROP TABLE mfa_lockouts`);
    await q.query(`DROP TABLE mfa_challenges`);
    await q.query(`DROP TABLE mfa_recovery_codes`);
    await q.query(`DROP TABLE mfa_totp`);
  }
}
