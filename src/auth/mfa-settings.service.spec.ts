import { Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { Secret, TOTP } from 'otpauth';

import { RecordingOutbox, RecordingSessions } from '../../test/fakes/account-services.fake';
import {
  InMemoryMfaEncryptionKeysRepository,
  InMemoryMfaLockoutRepository,
  InMemoryRecoveryCodesRepository,
  InMemoryTotpRepository,
} from '../../test/fakes/mfa.repositories.fake';
import { InMemoryTransactions } from '../../test/fakes/transactions.fake';
import { DomainEvents } from '../events/domain-events.service';
import { ANY_DOMAIN_EVENT, type DomainEvent } from '../events/events';
import type { MailOutbox } from '../mail/mail-outbox.service';
import { MfaEncryption } from '../mfa/mfa-encryption.service';
import { MfaLockoutService } from '../mfa/mfa-lockout.service';
import { RecoveryCodesService } from '../mfa/recovery-codes.service';
import { TOTP_PARAMS } from '../mfa/totp';
import { TotpService } from '../mfa/totp.service';
import type { AppConfig } from '../platform/config/app-config';
import type { DatabaseConnection } from '../platform/database/database-connection';
import type { Transactions, Tx } from '../platform/database/transactions';
import type { SessionsService } from '../sessions/sessions.service';
import type { AuthContext } from '../shared/access/auth-context';
import type { PasswordHasher } from '../users/password-hasher.service';
import type { UsersService } from '../users/users.service';
import { MfaSettingsService } from './mfa-settings.service';

/** The sessions stand-in of the account services, also recording which sessions were raised. */
class RaisingSessions extends RecordingSessions {
  readonly raised: Array<{ sessionId: string; amr: string[]; aal: number }> = [];
  raiseAssuranceIn(_tx: Tx, caller: { sessionId: string }, proven: { amr: string[]; aal: 1 | 2 }): Promise<boolean> {
    this.raised.push({ sessionId: caller.sessionId, ...proven });
    return Promise.resolve(true);
  }
}

const connected = { whenConnected: async (_: string, task: () => Promise<void> | void) => task() } as unknown as DatabaseConnection;
const hasher = {
  hash: (value: string) => Promise.resolve(`hashed(${value})`),
  check: (stored: string | undefined, value: string) => Promise.resolve({ ok: stored === `hashed(${value})`, needsRehash: false }),
} as unknown as PasswordHasher;

/** Waits, when needed, until at least 3 s are left in the current 30-second step. */
async function roomInStep(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 3000) await new Promise((resolve) => setTimeout(resolve, left + 500));
}

const codeOf = (base32: string): string => TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(base32) });

describe('MfaSettingsService', () => {
  const user = { id: '5b0f3b8e-4a57-4c38-9a4e-2f1f0c7d1a11', email: 'ann@example.com' };
  const adminId = '0d6c1c1e-8f0a-4b7e-9a55-3b7cfa0e2b21';
  const auth = { userId: user.id, sessionId: 'session-1', isImpersonated: false, user } as unknown as AuthContext;
  let mfa: MfaSettingsService;
  let sessions: RaisingSessions;
  let outbox: RecordingOutbox;
  let published: DomainEvent[];

  beforeEach(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const config = { jwt: { issuer: 'https://id.example.com' }, mfa: {}, lockout: { durationSeconds: 900 } } as AppConfig;
    const encryption = new MfaEncryption(config, new InMemoryMfaEncryptionKeysRepository(), connected);
    await encryption.onModuleInit();
    const transactions = new InMemoryTransactions() as unknown as Transactions;
    const codes = new InMemoryRecoveryCodesRepository();
    const totp = new TotpService(config, new InMemoryTotpRepository(), codes, encryption, transactions);
    const emitter = new EventEmitter2();
    published = [];
    emitter.on(ANY_DOMAIN_EVENT, (event: DomainEvent) => published.push(event));
    sessions = new RaisingSessions();
    outbox = new RecordingOutbox();
    const users = { findById: (id: string) => Promise.resolve(id === user.id ? user : null) } as unknown as UsersService;
    mfa = new MfaSettingsService(
      totp,
      new RecoveryCodesService(codes, hasher),
      new MfaLockoutService(config, new InMemoryMfaLockoutRepository()),
      sessions as unknown as SessionsService,
      users,
      outbox as unknown as MailOutbox,
      transactions,
      new DomainEvents(emitter),
    );
  });

  afterEach(() => jest.restoreAllMocks());

  async function turnedOn(): Promise<string[]> {
    const { secret } = await mfa.startTotpSetup(auth);
    await roomInStep();
    return (await mfa.confirmTotp(auth, codeOf(secret))).recoveryCodes;
  }

  it('a wrong code changes nothing but the lockout count: no codes, no revocation, no mail, no event', async () => {
    await mfa.startTotpSetup(auth);
    await expect(mfa.confirmTotp(auth, '000000')).rejects.toMatchObject({ code: 'INVALID_MFA_CODE' });
    expect(await mfa.status(user.id)).toEqual({ totp: { enabled: false, confirmedAt: null }, recoveryCodesLeft: 0, passkeys: [] });
    expect([sessions.revoked, sessions.raised, outbox.queued, published]).toEqual([[], [], [], []]);
  });

  it('the right code turns it on: other sessions revoked and announced, this one raised, mailed, published', async () => {
    const codes = await turnedOn();
    expect(new Set(codes).size).toBe(10);
    expect(sessions.revoked).toEqual([{ userId: user.id, exceptSessionId: 'session-1', reason: 'mfa_enabled' }]);
    expect(sessions.announced).toEqual(['mfa_enabled']);
    expect(sessions.raised).toEqual([{ sessionId: 'session-1', amr: ['otp', 'mfa'], aal: 2 }]);
    expect(outbox.queued).toEqual([{ kind: 'mfa_enabled', to: user.email }]);
    expect(outbox.wakeUps).toBe(1);
    expect(published.map((e) => [e.type, e.sessionId])).toEqual([['user.mfa_enabled', 'session-1']]);
    expect(await mfa.status(user.id)).toMatchObject({ totp: { enabled: true, confirmedAt: expect.any(String) }, recoveryCodesLeft: 10 });
    await expect(mfa.startTotpSetup(auth)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('an impersonation cannot confirm, nor raise its session', async () => {
    await mfa.startTotpSetup(auth);
    await expect(mfa.confirmTotp({ ...auth, isImpersonated: true }, '000000')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(sessions.raised).toEqual([]);
  });

  it('turning off a pending setup is silent; a factor that was on is mailed and published, by the user or an admin', async () => {
    await mfa.startTotpSetup(auth);
    await mfa.disableTotp(auth);
    expect([outbox.queued, published]).toEqual([[], []]);

    await turnedOn();
    await mfa.disableTotp(auth);
    expect(outbox.queued.at(-1)).toEqual({ kind: 'mfa_disabled', to: user.email, byAdmin: false });
    expect(published.at(-1)).toMatchObject({
      type: 'user.mfa_disabled',
      sessionId: 'session-1',
      details: { method: 'totp', reset: false },
    });

    await turnedOn();
    await mfa.resetForUser(user.id, adminId);
    expect(outbox.queued.at(-1)).toEqual({ kind: 'mfa_disabled', to: user.email, byAdmin: true });
    expect(published.at(-1)).toMatchObject({ type: 'user.mfa_disabled', actorId: adminId, details: { method: 'totp', reset: true } });
    expect(published.at(-1)).not.toHaveProperty('sessionId');
    expect(await mfa.status(user.id)).toMatchObject({ totp: { enabled: false }, recoveryCodesLeft: 0 });
  });

  it('an admin cannot reset their own factor here, nor an unknown user', async () => {
    await expect(mfa.resetForUser(adminId, adminId)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(mfa.resetForUser(adminId)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('new recovery codes need a factor that is on, and void the old set', async () => {
    await expect(mfa.regenerateRecoveryCodes(auth)).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'no second factor is on' });
    const first = await turnedOn();
    const { recoveryCodes } = await mfa.regenerateRecoveryCodes(auth);
    expect(recoveryCodes.filter((c) => first.includes(c))).toEqual([]);
    expect(published.at(-1)).toMatchObject({ type: 'user.recovery_codes_regenerated', sessionId: 'session-1' });
  });
});
