import { EventEmitter2 } from '@nestjs/event-emitter';

import { IN_MEMORY_TX, InMemoryTransactions } from '../../test/fakes/transactions.fake';
import { InMemoryUsersRepository } from '../../test/fakes/users.repository.fake';
import { USER_CHANGED } from '../events/auth-changes';
import { DomainEvents } from '../events/domain-events.service';
import { ANY_DOMAIN_EVENT, USER_DEACTIVATED, USER_ROLES_CHANGED, type DomainEvent } from '../events/events';
import type { Transactions } from '../platform/database/transactions';
import { UsersService } from './users.service';

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA';
const OTHER_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b3RoZXI';

/** A listener that finishes on a later tick, as the real ones (which query the database) do. */
function onLater<E>(emitter: EventEmitter2, type: string, record: (event: E) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- emitAsync awaits a listener's promise
  emitter.on(type, async (event: E) => {
    await new Promise(setImmediate);
    record(event);
  });
}

describe('UsersService', () => {
  let repository: InMemoryUsersRepository;
  let emitter: EventEmitter2;
  let users: UsersService;
  let changed: string[];
  let published: DomainEvent[];

  beforeEach(() => {
    repository = new InMemoryUsersRepository();
    emitter = new EventEmitter2();
    users = new UsersService(repository, new InMemoryTransactions() as unknown as Transactions, emitter, new DomainEvents(emitter));
    changed = [];
    published = [];
    emitter.on(USER_CHANGED, (event: { userId: string }) => changed.push(event.userId));
    emitter.on(ANY_DOMAIN_EVENT, (event: DomainEvent) => published.push(event));
  });

  describe('create and find', () => {
    it('stores the address and username normalised, with the default roles, and finds them however typed', async () => {
      const created = await users.create({ email: '  Ada@Example.TEST ', username: 'Ada', passwordHash: HASH });
      expect(created).toMatchObject({
        email: 'ada@example.test',
        username: 'ada',
        emailVerified: false,
        roles: ['user'],
        deactivatedAt: null,
      });
      expect(await users.findByEmail('ADA@example.test')).toMatchObject({ id: created.id });
      expect(await users.findByUsername('ADA')).toMatchObject({ id: created.id });
      expect(await users.findByLoginWithPassword({ email: 'ada@EXAMPLE.test' })).toMatchObject({ id: created.id, passwordHash: HASH });
      expect(await users.findByLoginWithPassword({ username: 'aDa' })).toMatchObject({ id: created.id, passwordHash: HASH });
      expect(await users.findByLoginWithPassword({ email: 'nobody@example.test' })).toBeNull();
    });

    it('imports new users and skips taken addresses and usernames with their codes', async () => {
      await users.create({ email: 'taken@example.test', username: 'taken', passwordHash: HASH });
      const result = await users.importUsers([
        { email: 'New@Example.test', passwordHash: HASH, emailVerified: true },
        { email: 'TAKEN@example.test', passwordHash: HASH },
        { email: 'other@example.test', username: 'Taken', passwordHash: HASH },
        { email: 'admin@example.test', passwordHash: HASH, roles: ['user', 'admin'] },
      ]);
      expect(result).toEqual({
        imported: 2,
        skipped: [
          { email: 'taken@example.test', code: 'EMAIL_TAKEN' },
          { email: 'other@example.test', code: 'USERNAME_TAKEN' },
        ],
      });
      expect(await users.findByEmail('new@example.test')).toMatchObject({ emailVerified: true, roles: ['user'] });
      expect(await users.findByEmail('admin@example.test')).toMatchObject({ roles: ['user', 'admin'] });
    });
  });

  describe('announced updates', () => {
    it('announces a password change locally only when the expected hash was still stored', async () => {
      const user = await users.create({ email: 'pw@example.test', passwordHash: HASH });
      expect(await users.updatePasswordHash(user.id, OTHER_HASH, 'stale', IN_MEMORY_TX)).toBe(false);
      expect(changed).toEqual([]);
      expect(await users.updatePasswordHash(user.id, OTHER_HASH, HASH, IN_MEMORY_TX)).toBe(true);
      expect(changed).toEqual([user.id]);
      expect((await users.findByIdWithPassword(user.id))?.passwordHash).toBe(OTHER_HASH);
    });

    it('marks an address verified and gives the user, or null once the address is no longer theirs', async () => {
      const user = await users.create({ email: 'verify@example.test', passwordHash: HASH });
      expect(await users.markEmailVerified(user.id, 'old@example.test', undefined, IN_MEMORY_TX)).toBeNull();
      expect(changed).toEqual([]);
      expect(await users.markEmailVerified(user.id, 'verify@example.test', undefined, IN_MEMORY_TX)).toMatchObject({
        id: user.id,
        emailVerified: true,
      });
      expect(changed).toEqual([user.id]);
    });

    it('deactivates after the listeners finished, and answers NOT_FOUND for no such user', async () => {
      const user = await users.create({ email: 'off@example.test', passwordHash: HASH });
      const heard: boolean[] = [];
      onLater(emitter, USER_DEACTIVATED, () => heard.push(true));
      const deactivated = await users.setDeactivated(user.id, true, 'actor-1');
      expect(heard).toEqual([true]);
      expect(deactivated.deactivatedAt).toBeInstanceOf(Date);
      expect(changed).toEqual([user.id]);
      expect(published).toEqual([expect.objectContaining({ type: 'user.deactivated', userId: user.id, actorId: 'actor-1' })]);

      expect((await users.setDeactivated(user.id, false)).deactivatedAt).toBeNull();
      expect(published[1]).toMatchObject({ type: 'user.activated', userId: user.id });

      await expect(users.setDeactivated('00000000-0000-4000-8000-000000000000', true)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(published).toHaveLength(2);
    });

    it('sets roles after the role listeners finished, and audits the change', async () => {
      const user = await users.create({ email: 'roles@example.test', passwordHash: HASH });
      const heard: Array<{ userId: string; roles: string[] }> = [];
      onLater(emitter, USER_ROLES_CHANGED, (event: { userId: string; roles: string[] }) => heard.push(event));
      expect((await users.setRoles(user.id, ['user', 'auditor'], 'actor-1')).roles).toEqual(['user', 'auditor']);
      expect(heard).toEqual([{ userId: user.id, roles: ['user', 'auditor'] }]);
      expect(published).toEqual([
        expect.objectContaining({
          type: 'user.roles_changed',
          userId: user.id,
          actorId: 'actor-1',
          details: { roles: ['user', 'auditor'] },
        }),
      ]);
      await expect(users.setRoles('00000000-0000-4000-8000-000000000000', ['user'])).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('grants admin once, auditing only the grant', async () => {
      const user = await users.create({ email: 'boss@example.test', passwordHash: HASH });
      await users.ensureAdmin(user.id, OTHER_HASH);
      expect(await users.findByIdWithPassword(user.id)).toMatchObject({
        roles: ['user', 'admin'],
        emailVerified: true,
        passwordHash: OTHER_HASH,
      });
      expect(published).toEqual([
        expect.objectContaining({
          type: 'user.roles_changed',
          userId: user.id,
          details: { roles: ['user', 'admin'], reason: 'bootstrap_admin' },
        }),
      ]);
      await users.ensureAdmin(user.id);
      expect(published).toHaveLength(1);
      expect(changed).toEqual([user.id, user.id]);
      await users.ensureAdmin('00000000-0000-4000-8000-000000000000');
      expect(published).toHaveLength(1);
    });
  });

  describe('list', () => {
    it('pages public users newest first with an opaque cursor', async () => {
      const ids: string[] = [];
      for (const name of ['a', 'b', 'c']) ids.push((await users.create({ email: `${name}@example.test`, passwordHash: HASH })).id);
      const first = await users.list({ limit: 2 });
      expect(first.items).toHaveLength(2);
      expect(first.nextCursor).toEqual(expect.any(String));
      expect(first.items[0]).not.toHaveProperty('passwordHash');
      expect(first.items[0]).toMatchObject({ emailVerified: false, deactivated: false, createdAt: expect.any(String) });
      const second = await users.list({ limit: 2, cursor: first.nextCursor! });
      expect(second.nextCursor).toBeNull();
      expect([...first.items, ...second.items].map((u) => u.id).sort()).toEqual([...ids].sort());
    });

    it('filters on the normalised address and username', async () => {
      await users.create({ email: 'find@example.test', username: 'finder', passwordHash: HASH });
      await users.create({ email: 'other@example.test', passwordHash: HASH });
      expect((await users.list({ email: ' FIND@example.test' })).items.map((u) => u.email)).toEqual(['find@example.test']);
      expect((await users.list({ username: 'FINDER' })).items.map((u) => u.username)).toEqual(['finder']);
    });

    it('refuses a cursor it did not issue', async () => {
      await expect(users.list({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });
});
