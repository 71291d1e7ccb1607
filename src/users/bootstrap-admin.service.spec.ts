import { EventEmitter2 } from '@nestjs/event-emitter';

import { InMemoryTransactions } from '../../test/fakes/transactions.fake';
import { InMemoryUsersRepository } from '../../test/fakes/users.repository.fake';
import { DomainEvents } from '../events/domain-events.service';
import { ANY_DOMAIN_EVENT, USER_CREDENTIALS_RESET, type DomainEvent } from '../events/events';
import type { AppConfig } from '../platform/config/app-config';
import type { DatabaseConnection } from '../platform/database/database-connection';
import type { Transactions } from '../platform/database/transactions';
import { AppError, ErrorCode } from '../shared/errors/app-error';
import { BootstrapAdmin } from './bootstrap-admin.service';
import type { PasswordHasher } from './password-hasher.service';
import { UsersService } from './users.service';

const ADMIN = { email: 'Root@Example.test', password: 'configured password' };
const SQUATTER_HASH = 'hash of the squatter';

describe('BootstrapAdmin', () => {
  let repository: InMemoryUsersRepository;
  let users: UsersService;
  let emitter: EventEmitter2;
  let published: DomainEvent[];
  let credentialsReset: string[];

  beforeEach(() => {
    repository = new InMemoryUsersRepository();
    emitter = new EventEmitter2();
    users = new UsersService(repository, new InMemoryTransactions() as unknown as Transactions, emitter, new DomainEvents(emitter));
    published = [];
    credentialsReset = [];
    emitter.on(ANY_DOMAIN_EVENT, (event: DomainEvent) => published.push(event));
    emitter.on(USER_CREDENTIALS_RESET, (event: { userId: string }) => credentialsReset.push(event.userId));
  });

  function bootstrap(config: Pick<AppConfig, 'bootstrapAdmin'> = { bootstrapAdmin: ADMIN }): Promise<void> {
    // A hash that names its password, so a spec can tell which password an account has.
    const hasher = { hash: (password: string) => Promise.resolve(`hashed(${password})`) } as PasswordHasher;
    const database = { whenConnected: async (_name: string, task: () => Promise<void>) => task() } as unknown as DatabaseConnection;
    return new BootstrapAdmin(config as AppConfig, users, hasher, emitter, database, new DomainEvents(emitter)).onApplicationBootstrap();
  }

  const admin = () => repository.findByEmailWithPassword('root@example.test');

  it('does nothing without a configured admin', async () => {
    await bootstrap({});
    expect((await repository.list({ limit: 10 })).items).toEqual([]);
  });

  it('creates a missing admin, verified, and audits the grant', async () => {
    await bootstrap();
    const created = await admin();
    expect(created).toMatchObject({ roles: ['user', 'admin'], emailVerified: true, passwordHash: 'hashed(configured password)' });
    expect(published).toEqual([
      expect.objectContaining({
        type: 'user.roles_changed',
        userId: created!.id,
        details: { roles: ['user', 'admin'], reason: 'bootstrap_admin' },
      }),
    ]);
  });

  it('makes an existing verified account admin, keeping its password and sessions', async () => {
    const owner = await users.create({ email: ADMIN.email, passwordHash: 'hash of the owner', emailVerified: true });
    await bootstrap();
    expect(await admin()).toMatchObject({ id: owner.id, roles: ['user', 'admin'], passwordHash: 'hash of the owner' });
    expect(credentialsReset).toEqual([]);
    expect(published).toEqual([
      expect.objectContaining({ type: 'user.roles_changed', details: { roles: ['user', 'admin'], reason: 'bootstrap_admin' } }),
    ]);
  });

  it('gives an unverified account squatting the address the configured password, and ends its sessions', async () => {
    const squatter = await users.create({ email: ADMIN.email, passwordHash: SQUATTER_HASH });
    await bootstrap();
    expect(await admin()).toMatchObject({
      id: squatter.id,
      roles: ['user', 'admin'],
      emailVerified: true,
      passwordHash: 'hashed(configured password)',
    });
    expect(credentialsReset).toEqual([squatter.id]);
  });

  it('changes nothing for an admin that is already there', async () => {
    await users.create({ email: ADMIN.email, passwordHash: 'hash of the owner', emailVerified: true, roles: ['user', 'admin'] });
    await bootstrap();
    expect(await admin()).toMatchObject({ roles: ['user', 'admin'], passwordHash: 'hash of the owner' });
    expect(published).toEqual([]);
  });

  it('takes over the account another instance created first', async () => {
    const insert = repository.insert.bind(repository);
    // Another instance inserts between this one's lookup and its insert: an unverified account, as a sign-up would.
    jest.spyOn(repository, 'insert').mockImplementationOnce(async (user) => {
      await insert({ ...user, emailVerified: false, roles: ['user'], passwordHash: SQUATTER_HASH });
      throw new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered');
    });
    await bootstrap();
    const taken = await admin();
    expect(taken).toMatchObject({ roles: ['user', 'admin'], emailVerified: true, passwordHash: 'hashed(configured password)' });
    expect(credentialsReset).toEqual([taken!.id]);
    expect((await repository.list({ limit: 10 })).items).toHaveLength(1);
  });
});
