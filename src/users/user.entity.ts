import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'users' })
export class UserEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** Trimmed, NFKC-normalised, lower-cased; unique. */
  @Column({ type: 'text' })
  email: string;

  /** Lower-cased; unique when present. */
  @Column({ type: 'text', nullable: true })
  username: string | null;

  /**
   * argon2id (or an imported legacy) hash; selected only by the query that checks a password. Null
   * while voided by a contested sign-up: no password works until the mailbox owner chooses one.
   */
  @Column({ name: 'password_hash', type: 'text', nullable: true, select: false })
  passwordHash: string | null;

  /** Shown to people; NFKC-normalised and trimmed, no control characters; null when not given. */
  @Column({ name: 'display_name', type: 'text', nullable: true })
  displayName: string | null;

  @Column({ name: 'email_verified', type: 'boolean', default: false })
  emailVerified: boolean;

  @Column({ type: 'text', array: true, default: () => "'{user}'" })
  roles: string[];

  /** A confirmed second factor: sign-ins need it. Kept by the database from the factors (never written here). */
  @Column({ name: 'mfa_enabled', type: 'boolean', insert: false, update: false })
  mfaEnabled: boolean;

  @Column({ name: 'deactivated_at', type: 'timestamptz', nullable: true })
  deactivatedAt: Date | null;

  /** Set by a deletion request: the account answers like an unknown one, and is erased after this time. */
  @Column({ name: 'erase_after', type: 'timestamptz', nullable: true })
  eraseAfter: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
