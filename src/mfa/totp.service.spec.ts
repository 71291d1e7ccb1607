import { createSecretKey, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Secret, TOTP } from 'otpauth';

import {
  InMemoryMfaEncryptionKeysRepository,
  InMemoryRecoveryCodesRepository,
  InMemoryTotpRepository,
} from '../../test/fakes/mfa.repositories.fake';
import { InMemoryTransactions } from '../../test/fakes/transactions.fake';
import type { AppConfig } from '../platform/config/app-config';
import type { DatabaseConnection } from '../platform/database/database-connection';
import type { Transactions } from '../platform/database/transactions';
import { MfaEncryption } from './mfa-encryption.service';
import { TOTP_PARAMS } from './totp';
import { totpIssuer, TotpService } from './totp.service';

const connected = { whenConnected: async (_: string, task: () => Promise<void> | void) => task() } as unknown as DatabaseConnection;

/** Waits, when needed, until at least `ms` are left in the current 30-second step. */
async function roomInStep(ms = 3000): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < ms) await new Promise((resolve) => setTimeout(resolve, left + 500));
}

const codeAt = (base32: string, timestamp = Date.now()): string =>
  TOTP.generate({ ...TOTP_PARAMS, secret: Secret.fromBase32(base32), timestamp });

describe('TotpService', () => {
  const user = { id: '5b0f3b8e-4a57-4c38-9a4e-2f1f0c7d1a11', email: 'ann@example.com' };
  let totp: TotpService;
  let repository: InMemoryTotpRepository;
  let recoveryCodes: InMemoryRecoveryCodesRepository;

  beforeEach(async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const config = { jwt: { issuer: 'https://id.example.com/' }, mfa: {} } as AppConfig;
    const encryption = new MfaEncryption(config, new InMemoryMfaEncryptionKeysRepository(), connected);
    await encryption.onModuleInit();
    repository = new InMemoryTotpRepository();
    recoveryCodes = new InMemoryRecoveryCodesRepository();
    totp = new TotpService(config, repository, recoveryCodes, encryption, new InMemoryTransactions() as unknown as Transactions);
  });

  afterEach(() => jest.restoreAllMocks());

  it('keeps a pending setup out of logins until a code confirms it, and refuses a second setup then', async () => {
    const setup = (await totp.startSetup(user))!;
    expect(new URL(setup.otpauthUrl).searchParams.get('issuer')).toBe('id.example.com');
    await roomInStep();
    expect(await totp.hasConfirmedFactor(user.id)).toBe(false);
    expect(await totp.verify(user.id, codeAt(setup.secret))).toBe(false);
    expect(await totp.confirm(user.id, codeAt(setup.secret, Date.now() - 60_000))).toBe(false);
    expect(await totp.confirm(user.id, codeAt(setup.secret))).toBe(true);
    expect(await totp.hasConfirmedFactor(user.id)).toBe(true);
    expect(await totp.verify(user.id, codeAt(setup.secret))).toBe(false);
    expect(await totp.startSetup(user)).toBeNull();
  });

  it('stores the secret sealed for its user only', async () => {
    const setup = (await totp.startSetup(user))!;
    const stored = (await repository.find(user.id))!;
    const raw = Buffer.from(Secret.fromBase32(setup.secret).bytes);
    expect(stored.secretEnc.includes(raw)).toBe(false);
    expect(stored.secretEnc.toString('latin1')).not.toContain(setup.secret);
  });

  it('disables the factor and its recovery codes', async () => {
    await totp.startSetup(user);
    await recoveryCodes.replaceAll(user.id, [{ lookup: 'abcd', codeHash: 'h' }]);
    expect(await totp.disable(user.id)).toBe(true);
    expect(await totp.status(user.id)).toEqual({ enabled: false, confirmedAt: null });
    expect(await recoveryCodes.countUnused(user.id)).toBe(0);
  });
});

describe('MfaEncryption', () => {
  it('generates a key once when none is configured, and logs its id only', async () => {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const keys = new InMemoryMfaEncryptionKeysRepository();
    const a = new MfaEncryption({ mfa: {} } as AppConfig, keys, connected);
    const b = new MfaEncryption({ mfa: {} } as AppConfig, keys, connected);
    await Promise.all([a.onModuleInit(), b.onModuleInit()]);
    const [stored] = await keys.findAll();
    expect(await keys.findAll()).toHaveLength(1);
    expect((await b.open(a.seal(Buffer.from('s'), 'u'), 'u')).toString()).toBe('s');
    const logged = log.mock.calls.map((c) => String(c[0])).join('\n');
    expect(logged).toContain(stored.kid);
    expect(logged).not.toContain(stored.key.toString('base64'));
    expect(logged).not.toContain(stored.key.toString('hex'));
    log.mockRestore();
  });

  it('with a configured key, stores none', async () => {
    const keys = new InMemoryMfaEncryptionKeysRepository();
    const encryption = new MfaEncryption({ mfa: { encryptionKey: createSecretKey(randomBytes(32)) } } as AppConfig, keys, connected);
    await encryption.onModuleInit();
    expect(await keys.findAll()).toEqual([]);
    expect((await encryption.open(encryption.seal(Buffer.from('s'), 'u'), 'u')).toString()).toBe('s');
  });
});

describe('totpIssuer', () => {
  it.each([
    ['https://id.example.com', 'id.example.com'],
    ['http://localhost:3000/auth', 'localhost'],
    ['Example Accounts', 'Example Accounts'],
  ])('%s → %s', (issuer, shown) => {
    expect(totpIssuer(issuer)).toBe(shown);
  });
});
