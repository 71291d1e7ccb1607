import { Column, CreateDateColumn, Entity } from 'typeorm';

/** A generated signing key pair, shared by every instance through the database. */
@Entity({ name: 'signing_keys' })
export class SigningKeyEntity {
  @Column({ type: 'text', primary: true })
  kid: string;

  @Column({ type: 'text' })
  algorithm: string;

  /** PKCS#8 PEM. */
  @Column({ name: 'private_key', type: 'text', select: false })
  privateKey: string;

  /** SPKI PEM. */
  @Column({ name: 'public_key', type: 'text' })
  publicKey: string;

  /** The key new tokens are signed with (one per algorithm). */
  @Column({ type: 'boolean', default: false })
  current: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** When a rotation replaced it as the signing key. */
  @Column({ name: 'superseded_at', type: 'timestamptz', nullable: true })
  supersededAt: Date | null;

  /** From this time on the key no longer verifies and leaves the JWKS. */
  @Column({ name: 'retired_at', type: 'timestamptz', nullable: true })
  retiredAt: Date | null;
}
