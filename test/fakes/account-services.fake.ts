import { EventEmitter2 } from '@nestjs/event-emitter';

import { CredentialsService } from '../../src/auth/credentials.service';
import { EmailVerificationService } from '../../src/auth/email-verification.service';
import { PasswordRecoveryService } from '../../src/auth/password-recovery.service';
import { RegistrationService } from '../../src/auth/registration.service';
import { DomainEvents } from '../../src/events/domain-events.service';
import { ANY_DOMAIN_EVENT, type DomainEvent } from '../../src/events/events';
import type { MailOutbox } from '../../src/mail/mail-outbox.service';
import type { MailKind } from '../../src/mail/templates';
import type { AppConfig } from '../../src/platform/config/app-config';
import type { Transactions, Tx } from '../../src/platform/database/transactions';
import type { BackgroundTasks } from '../../src/platform/lifecycle/background-tasks.service';
import { MetricsService } from '../../src/platform/observability/metrics/metrics.service';
import type { LockoutService } from '../../src/protection/lockout.service';
import type { RevocationFeed } from '../../src/sessions/revocation-feed.service';
import type { RevokedSessions, SessionsService } from '../../src/sessions/sessions.service';
import type { PasswordHasher } from '../../src/users/password-hasher.service';
import { UsersService } from '../../src/users/users.service';
import { InMemoryAccountTokensRepository } from './account-tokens.repository.fake';
import { InMemoryTransactions } from './transactions.fake';
import { InMemoryUsersRepository } from './users.repository.fake';

export interface QueuedMail {
  kind: MailKind;
  to: string;
  byAdmin?: boolean;
  remaining?: number;
  token?: string;
  choosePassword?: boolean;
  username?: string;
}

/** The mail the services queued, as the outbox would have it; `throttled` kinds are refused. */
export class RecordingOutbox {
  readonly queued: QueuedMail[] = [];
  readonly throttled = new Set<MailKind>();
  wakeUps = 0;

  mayQueue(_tx: Tx, _to: string, kind: MailKind): Promise<boolean> {
    return Promise.resolve(!this.throttled.has(kind));
  }
  queueVerifyEmail(_tx: Tx, to: string, token: string, choosePassword = false): Promise<void> {
    return this.record({ kind: 'verify_email', to, token, choosePassword });
  }
  queueUsernameTaken(_tx: Tx, to: string, username: string): Promise<void> {
    return this.record({ kind: 'username_taken', to, username });
  }
  queueAccountExists(_tx: Tx, to: string): Promise<void> {
    return this.record({ kind: 'account_exists', to });
  }
  queuePasswordReset(_tx: Tx, to: string, token: string): Promise<void> {
    return this.record({ kind: 'password_reset', to, token });
  }
  queuePasswordChanged(_tx: Tx, to: string): Promise<void> {
    return this.record({ kind: 'password_changed', to });
  }
  queueMfaEnabled(_tx: Tx, to: string): Promise<void> {
    return this.record({ kind: 'mfa_enabled', to });
  }
  queueMfaDisabled(_tx: Tx, to: string, opts: { byAdmin: boolean }): Promise<void> {
    return this.record({ kind: 'mfa_disabled', to, byAdmin: opts.byAdmin });
  }
  queueRecoveryCodeUsed(_tx: Tx, to: string, remaining: number): Promise<void> {
    return this.record({ kind: 'recovery_code_used', to, remaining });
  }
  wakeWorker(): void {
    this.wakeUps += 1;
  }
  /** The token of the last mail of the kind to the address. */
  lastToken(kind: MailKind, to: string): string {
    const token = this.queued.filter((m) => m.kind === kind && m.to === to).at(-1)?.token;
    if (token === undefined) throw new Error(`no ${kind} mail with a token to ${to}`);
    return token;
  }
  private record(mail: QueuedMail): Promise<void> {
    this.queued.push(mail);
    return Promise.resolve();
  }
}

/** The sessions feature as the account services see it: what they asked to revoke and announce. */
export class RecordingSessions {
  readonly revoked: Array<{ userId: string; exceptSessionId?: string; reason: string }> = [];
  /** The reasons of the revocations announced: each must be one this stand-in handed out. */
  readonly announced: string[] = [];
  private readonly handedOut = new Map<RevokedSessions, string>();

  revokeAllForUserIn(_tx: Tx, userId: string, opts: { exceptSessionId?: string; reason: string }): Promise<RevokedSessions> {
    this.revoked.push({ userId, ...opts });
    // Opaque to the account services: they only hand it back to announceRevoked().
    const revoked = {} as RevokedSessions;
    this.handedOut.set(revoked, opts.reason);
    return Promise.resolve(revoked);
  }
  announceRevoked(revoked: RevokedSessions): Promise<void> {
    this.announced.push(this.handedOut.get(revoked) ?? 'not a revocation of this stand-in');
    return Promise.resolve();
  }
}

/** Lockout bookkeeping only: which attempts failed and whose lock was cleared. */
export class RecordingLockout {
  failures = 0;
  readonly cleared: string[] = [];

  changeCounters(): [] {
    return [];
  }
  begin(): Promise<object> {
    return Promise.resolve({});
  }
  failed(): Promise<void> {
    this.failures += 1;
    return Promise.resolve();
  }
  clearFor(user: { id: string }): Promise<void> {
    this.cleared.push(user.id);
    return Promise.resolve();
  }
}

/** Background work, run at once and awaited by `settled()`. */
export class AwaitableBackground {
  private readonly tasks: Array<Promise<unknown>> = [];
  run(_name: string, task: () => Promise<unknown>): void {
    this.tasks.push(task());
  }
  async settled(): Promise<void> {
    await Promise.all(this.tasks);
  }
}

/** A hash that names its password: specs can tell which password an account has, at no cost. */
export const fakeHash = (password: string): string => `hashed(${password})`;

const hasher = {
  hash: (password: string) => Promise.resolve(fakeHash(password)),
  check: (stored: string | null | undefined, password: string) =>
    Promise.resolve({ ok: stored === fakeHash(password), needsRehash: false }),
};

/**
 * Registration, verification and recovery over the in-memory repositories, with the other features
 * (mail, sessions, lockout, the revocation feed) reduced to what these services ask of them.
 */
export function accountServices(opts: { requireEmailVerification?: boolean } = {}) {
  const config = {
    requireEmailVerification: opts.requireEmailVerification ?? true,
    tokens: { emailVerificationTtl: 3600, passwordResetTtl: 3600 },
  } as AppConfig;
  const emitter = new EventEmitter2();
  const published: DomainEvent[] = [];
  emitter.on(ANY_DOMAIN_EVENT, (event: DomainEvent) => published.push(event));
  const events = new DomainEvents(emitter);
  const transactions = new InMemoryTransactions() as unknown as Transactions;
  const usersRepository = new InMemoryUsersRepository();
  const tokens = new InMemoryAccountTokensRepository(usersRepository);
  const users = new UsersService(usersRepository, transactions, emitter, events);
  const outbox = new RecordingOutbox();
  const sessions = new RecordingSessions();
  const lockout = new RecordingLockout();
  const background = new AwaitableBackground();
  const delivered: string[][] = [];
  const feed = { awaitDelivery: (keys: string[]) => Promise.resolve(void delivered.push(keys)) } as unknown as RevocationFeed;

  const asOutbox = outbox as unknown as MailOutbox;
  const asSessions = sessions as unknown as SessionsService;
  const asLockout = lockout as unknown as LockoutService;
  const asBackground = background as unknown as BackgroundTasks;
  const asHasher = hasher as unknown as PasswordHasher;
  const verification = new EmailVerificationService(
    config,
    transactions,
    tokens,
    users,
    asHasher,
    asOutbox,
    feed,
    asBackground,
    events,
    asSessions,
    asLockout,
  );
  const credentials = new CredentialsService(users, asHasher, config, events, asLockout, transactions, new MetricsService());
  const registration = new RegistrationService(config, transactions, users, asHasher, verification, asOutbox, events, asSessions);
  const recovery = new PasswordRecoveryService(
    config,
    transactions,
    tokens,
    users,
    asSessions,
    asHasher,
    asOutbox,
    feed,
    asBackground,
    events,
    asLockout,
    verification,
    credentials,
  );

  return {
    usersRepository,
    tokens,
    users,
    verification,
    registration,
    recovery,
    outbox,
    sessions,
    lockout,
    background,
    delivered,
    published,
    emitter,
  };
}
