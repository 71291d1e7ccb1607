import { MigrationInterface, QueryRunner } from 'typeorm';

export class SigningKeySuperseded1764100000000 implements MigrationInterface {
  name = 'SigningKeySuperseded1764100000000';

  async up(q: QueryRunner): Promise<void> {
    // When a key stopped signing: it may be retired once every token it signed has expired.
    await q.query(`ALTER TABLE signing_keys ADD COLUMN superseded_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE signing_keys DROP COLUMN superseded_at`);
  }
}
