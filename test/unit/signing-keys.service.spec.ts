import { createSecretKey } from 'node:crypto';
import { Logger } from '@nestjs/common';

import type { AppConfig } from '../../src/platform/config/app-config';
import type { DatabaseConnection } from '../../src/platform/database/database-connection';
import { ErrorCode } from '../../src/shared/errors/app-error';
import { generateSigningKey } from '../../src/tokens/signing-key-material';
import { SigningKeysService } from '../../src/tokens/signing-keys.service';
import { InMemorySigningKeysRepository } from '../fakes/signing-keys.repository.fake';

/** Runs the deferred start-up work when told to, as the database connecting would. */
class DeferredConnection {
  private readonly tasks: Array<() => Promise<void> | void> = [];

  whenConnected(_name: string, task: () => Promise<void> | void): Promise<void> {
    this.tasks.push(task);
    return Promise.resolve();
  }

  async connect(): Promise<void> {
    for (const task of this.tasks.splice(0)) await task();
  }
}

describe('SigningKeysService', () => {
  let repository: InMemorySigningKeysRepository;
  let connection: DeferredConnection;
  const services: SigningKeysService[] = [];

  const start = async (jwt: Partial<AppConfig['jwt']> = {}): Promise<SigningKeysService> => {
    const service = new SigningKeysService(
      { jwt: { algorithm: 'ES256', ...jwt } } as AppConfig,
      repository,
      connection as unknown as DatabaseConnection,
    );
    services.push(service);
    await service.onModuleInit();
    await connection.connect();
    return service;
  };

  let logged: jest.SpyInstance;

  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    repository = new InMemorySigningKeysRepository();
    connection = new DeferredConnection();
  });

  afterEach(() => {
    for (const service of services.splice(0)) service.onApplicationShutdown();
    logged.mockRestore();
  });

  it('generates and stores a key when the database has none, and signs with it', async () => {
    const service = await start();
    const stored = await repository.findLive();
    expect(stored).toHaveLength(1);
    expect(service.signingKey()).toMatchObject({ kid: stored[0].kid, algorithm: 'ES256' });
    expect(service.jwks().keys).toEqual([expect.objectContaining({ kid: stored[0].kid, alg: 'ES256', use: 'sig', kty: 'EC' })]);
    expect(logged.mock.calls.map(([message]) => String(message))).toEqual([
      `generated ES256 signing key ${stored[0].kid} and stored it in the database`,
    ]);
  });

  it('signs with the stored current key, and every instance with the same one', async () => {
    const existing = await generateSigningKey('ES256');
    await repository.insertCurrentIfNone(existing);
    const [a, b] = [await start(), await start()];
    expect(a.signingKey().kid).toBe(existing.kid);
    expect(b.signingKey().kid).toBe(existing.kid);
    expect(await repository.findLive()).toHaveLength(1);
    expect(logged).not.toHaveBeenCalled();
  });

  it('answers SERVICE_UNAVAILABLE until the database has given the keys', async () => {
    const service = new SigningKeysService(
      { jwt: { algorithm: 'ES256' } } as AppConfig,
      repository,
      connection as unknown as DatabaseConnection,
    );
    services.push(service);
    await service.onModuleInit();
    expect(() => service.signingKey()).toThrow(expect.objectContaining({ code: ErrorCode.SERVICE_UNAVAILABLE }));
    expect(() => service.jwks()).toThrow(expect.objectContaining({ code: ErrorCode.SERVICE_UNAVAILABLE }));
    await connection.connect();
    expect(service.signingKey().algorithm).toBe('ES256');
  });

  it('after a rotation signs with the new key and still verifies the old; after retiring, no longer', async () => {
    const service = await start();
    const old = service.signingKey().kid;
    const next = await generateSigningKey('ES256');
    await repository.rotate(next);
    await service.reload();
    expect(service.signingKey().kid).toBe(next.kid);
    expect(service.isLive(old)).toBe(true);
    expect(service.jwks().keys.map((k) => k.kid)).toEqual([next.kid, old]);
    expect((await service.verificationKey(old))?.kid).toBe(old);

    await repository.retire({ minAgeSeconds: 0, kid: old });
    await service.reload();
    expect(service.isLive(old)).toBe(false);
    expect(service.jwks().keys.map((k) => k.kid)).toEqual([next.kid]);
  });

  it('with a shared secret, signs with it and never touches the database', async () => {
    const service = await start({ algorithm: 'HS256', secret: createSecretKey(Buffer.alloc(32, 7)) });
    expect(service.signingKey().algorithm).toBe('HS256');
    expect(service.jwks()).toEqual({ keys: [] });
    expect(await repository.findLive()).toEqual([]);
  });
});
