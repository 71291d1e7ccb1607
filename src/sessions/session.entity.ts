import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'sessions' })
export class SessionEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId: string;

  @Column({ type: 'text', nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'text', nullable: true })
  userAgent: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz' })
  lastUsedAt: Date;

  /** Absolute end of the session: refreshing never moves it. */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;

  @Column({ name: 'revoke_reason', type: 'text', nullable: true })
  revokeReason: string | null;

  @Column({ name: 'impersonator_id', type: 'uuid', nullable: true })
  impersonatorId: string | null;

  /** The admin's session this impersonation was started from: ending it ends this one. */
  @Column({ name: 'impersonator_session_id', type: 'uuid', nullable: true })
  impersonatorSessionId: string | null;

  /** How the user authenticated (RFC 8176 values: `pwd`, `otp`, `mfa`, …); tokens carry it as `amr`. */
  @Column({ type: 'text', array: true })
  amr: string[];

  /** Authentication assurance level: 2 once a second factor (or a user-verifying passkey) was proven. */
  @Column({ type: 'smallint' })
  aal: number;

  /** When a factor was last proven (login, re-authentication); tokens carry it as `auth_time`. */
  @Column({ name: 'auth_time', type: 'timestamptz' })
  authTime: Date;
}

/** One row per refresh token ever issued, so that a rotated-out token is recognised when reused. */
@Entity({ name: 'refresh_tokens' })
export class RefreshTokenEntity {
  /** SHA-256 of the opaque token, hex; the token itself is never stored. */
  @Column({ name: 'token_hash', type: 'text', primary: true })
  tokenHash: string;

  @Column({ name: 'session_id', type: 'uuid' })
  sessionId: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'rotated_at', type: 'timestamptz', nullable: true })
  rotatedAt: Date | null;
}
