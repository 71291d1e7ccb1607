import { randomUUID } from 'node:crypto';

import type { Transactions } from '../../src/platform/database/transactions';
import type { UserEntity } from '../../src/users/user.entity';
import type { NewUserRecord, UsersRepository } from '../../src/users/users.repository';

export interface UsersRepositorySetup {
  repository: UsersRepository;
  transactions: { run: Transactions['run'] };
  /** Empties the users table (and whatever hangs on it), or starts a fresh repository. */
  reset(): Promise<void>;
}

const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA';
const OTHER_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b3RoZXI';

let counter = 0;
function newUser(overrides: Partial<NewUserRecord> = {}): NewUserRecord {
  counter += 1;
  return { email: `user${counter}@example.test`, username: null, passwordHash: HASH, emailVerified: false, roles: ['user'], ...overrides };
}

/** What every UsersRepository does, whatever it stores users in. */
export function describeUsersRepository(setup: () => Promise<UsersRepositorySetup>): void {
  let s: UsersRepositorySetup;
  let repository: UsersRepository;
  let transactions: UsersRepositorySetup['transactions'];

  beforeAll(async () => {
    s = await setup();
  });
  beforeEach(async () => {
    await s.reset();
    // Read after the reset: an implementation may start afresh.
    ({ repository, transactions } = s);
  });

  describe('insert and find', () => {
    it('inserts a user with a generated id and timestamps, and finds it by id, email and username', async () => {
      const created = await repository.insert(
        newUser({ email: 'ada@example.test', username: 'ada', emailVerified: true, roles: ['user', 'auditor'] }),
      );
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(created.updatedAt).toBeInstanceOf(Date);
      const expected = {
        id: created.id,
        email: 'ada@example.test',
        username: 'ada',
        displayName: null,
        mfaEnabled: false,
        emailVerified: true,
        roles: ['user', 'auditor'],
        deactivatedAt: null,
        eraseAfter: null,
      };
      expect(await repository.findById(created.id)).toMatchObject(expected);
      expect(await repository.findByEmail('ada@example.test')).toMatchObject(expected);
      expect(await repository.findByUsername('ada')).toMatchObject(expected);
    });

    it('answers null for no such user', async () => {
      await repository.insert(newUser({ email: 'known@example.test', username: 'known' }));
      expect(await repository.findById(randomUUID())).toBeNull();
      expect(await repository.findByEmail('unknown@example.test')).toBeNull();
      expect(await repository.findByUsername('unknown')).toBeNull();
      expect(await repository.findByIdWithPassword(randomUUID())).toBeNull();
      expect(await repository.findByEmailWithPassword('unknown@example.test')).toBeNull();
      expect(await repository.findByUsernameWithPassword('unknown')).toBeNull();
    });

    it('matches values exactly: normalising is the caller’s', async () => {
      await repository.insert(newUser({ email: 'case@example.test', username: 'case' }));
      expect(await repository.findByEmail('CASE@example.test')).toBeNull();
      expect(await repository.findByUsername('Case')).toBeNull();
    });

    it('reads the password hash only through the …WithPassword lookups', async () => {
      const created = await repository.insert(newUser({ email: 'pw@example.test', username: 'pw' }));
      expect((await repository.findById(created.id))?.passwordHash).toBeUndefined();
      expect((await repository.findByEmail('pw@example.test'))?.passwordHash).toBeUndefined();
      expect((await repository.findByUsername('pw'))?.passwordHash).toBeUndefined();
      expect((await repository.findByIdWithPassword(created.id))?.passwordHash).toBe(HASH);
      expect((await repository.findByEmailWithPassword('pw@example.test'))?.passwordHash).toBe(HASH);
      expect((await repository.findByUsernameWithPassword('pw'))?.passwordHash).toBe(HASH);
    });

    it('reads the same user through the …WithPassword lookups, hash added', async () => {
      const created = await repository.insert(newUser({ email: 'same@example.test', username: 'same' }));
      await repository.setRoles(created.id, ['user', 'admin']);
      await repository.setDeactivated(created.id, true);
      const user = await repository.findById(created.id);
      expect(user?.deactivatedAt).toBeInstanceOf(Date);
      const expected = { ...user, passwordHash: HASH };
      expect({ ...(await repository.findByIdWithPassword(created.id)) }).toEqual(expected);
      expect({ ...(await repository.findByEmailWithPassword('same@example.test')) }).toEqual(expected);
      expect({ ...(await repository.findByUsernameWithPassword('same')) }).toEqual(expected);
    });

    it('refuses a taken address with EMAIL_TAKEN and a taken username with USERNAME_TAKEN', async () => {
      await repository.insert(newUser({ email: 'taken@example.test', username: 'taken' }));
      await expect(repository.insert(newUser({ email: 'taken@example.test' }))).rejects.toMatchObject({ code: 'EMAIL_TAKEN' });
      await expect(repository.insert(newUser({ username: 'taken' }))).rejects.toMatchObject({ code: 'USERNAME_TAKEN' });
      expect((await repository.list({ limit: 10 })).items).toHaveLength(1);
    });

    it('lets any number of users go without a username', async () => {
      await repository.insert(newUser());
      await repository.insert(newUser());
      expect((await repository.list({ limit: 10 })).items.map((u) => u.username)).toEqual([null, null]);
    });

    it('gives one of two concurrent inserts of one address the row, the other EMAIL_TAKEN', async () => {
      const results = await Promise.allSettled([
        repository.insert(newUser({ email: 'race@example.test' })),
        repository.insert(newUser({ email: 'race@example.test' })),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').map((r) => r.reason.code)).toEqual(['EMAIL_TAKEN']);
    });

    it('takes part in the caller’s transaction', async () => {
      const created = await transactions.run(async (tx) => {
        const user = await repository.insert(newUser({ email: 'tx@example.test' }), tx);
        expect(await repository.findByEmail('tx@example.test', tx)).toMatchObject({ id: user.id });
        return user;
      });
      expect(await repository.findById(created.id)).toMatchObject({ email: 'tx@example.test' });
    });
  });

  describe('account state', () => {
    it('reads the state of an account under lock, null for no such user', async () => {
      const created = await repository.insert(newUser({ email: 'state@example.test' }));
      await repository.setDeactivated(created.id, true);
      const state = await transactions.run((tx) => repository.lockAccountState(created.id, tx));
      expect(state).toEqual({ email: 'state@example.test', emailVerified: false, deactivated: true, passwordVoided: false });
      expect(await transactions.run((tx) => repository.lockAccountState(randomUUID(), tx))).toBeNull();
    });
  });

  describe('conditional updates', () => {
    it('sets a password hash unconditionally, or only while the expected hash is stored', async () => {
      const created = await repository.insert(newUser());
      expect(await repository.setPasswordHash(created.id, OTHER_HASH, { expectedHash: HASH })).toBe(true);
      expect((await repository.findByIdWithPassword(created.id))?.passwordHash).toBe(OTHER_HASH);
      expect(await repository.setPasswordHash(created.id, 'never', { expectedHash: HASH })).toBe(false);
      expect((await repository.findByIdWithPassword(created.id))?.passwordHash).toBe(OTHER_HASH);
      expect(await repository.setPasswordHash(created.id, HASH, {})).toBe(true);
      expect((await repository.findByIdWithPassword(created.id))?.passwordHash).toBe(HASH);
      expect(await repository.setPasswordHash(randomUUID(), HASH, {})).toBe(false);
    });

    it('moves updatedAt forward on a change', async () => {
      const created = await repository.insert(newUser());
      await repository.setRoles(created.id, ['user', 'admin']);
      const after = await repository.findById(created.id);
      expect(after!.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());
      expect(after!.createdAt.getTime()).toBe(created.createdAt.getTime());
    });

    it('marks the address verified only while it is still the user’s, keeping or setting the password', async () => {
      const kept = await repository.insert(newUser({ email: 'kept@example.test' }));
      expect(await repository.markEmailVerified(kept.id, 'kept@example.test', undefined)).toBe(true);
      expect(await repository.findByIdWithPassword(kept.id)).toMatchObject({ emailVerified: true, passwordHash: HASH });

      const chosen = await repository.insert(newUser({ email: 'chosen@example.test' }));
      expect(await repository.markEmailVerified(chosen.id, 'chosen@example.test', OTHER_HASH)).toBe(true);
      expect(await repository.findByIdWithPassword(chosen.id)).toMatchObject({ emailVerified: true, passwordHash: OTHER_HASH });

      const moved = await repository.insert(newUser({ email: 'moved@example.test' }));
      expect(await repository.markEmailVerified(moved.id, 'old@example.test', OTHER_HASH)).toBe(false);
      expect(await repository.findByIdWithPassword(moved.id)).toMatchObject({ emailVerified: false, passwordHash: HASH });
    });

    it('voids the password and username of an unverified account only, freeing the username', async () => {
      const unverified = await repository.insert(newUser({ username: 'first' }));
      expect(await repository.voidUnverifiedClaims(unverified.id)).toBe(true);
      expect(await repository.findByIdWithPassword(unverified.id)).toMatchObject({ username: null, passwordHash: null });
      expect(await transactions.run((tx) => repository.lockAccountState(unverified.id, tx))).toMatchObject({ passwordVoided: true });
      await expect(repository.insert(newUser({ username: 'first' }))).resolves.toMatchObject({ username: 'first' });

      const verified = await repository.insert(newUser({ username: 'proven', emailVerified: true }));
      expect(await repository.voidUnverifiedClaims(verified.id)).toBe(false);
      expect(await repository.findByIdWithPassword(verified.id)).toMatchObject({ username: 'proven', passwordHash: HASH });
    });

    it('deactivates keeping the first time, and re-activates', async () => {
      const created = await repository.insert(newUser());
      expect(await repository.setDeactivated(created.id, true)).toBe(true);
      const first = (await repository.findById(created.id))!.deactivatedAt;
      expect(first).toBeInstanceOf(Date);
      expect(await repository.setDeactivated(created.id, true)).toBe(true);
      expect((await repository.findById(created.id))!.deactivatedAt).toEqual(first);
      expect(await repository.setDeactivated(created.id, false)).toBe(true);
      expect((await repository.findById(created.id))!.deactivatedAt).toBeNull();
      expect(await repository.setDeactivated(randomUUID(), true)).toBe(false);
    });

    it('replaces the roles', async () => {
      const created = await repository.insert(newUser());
      expect(await repository.setRoles(created.id, ['user', 'admin'])).toBe(true);
      expect((await repository.findById(created.id))!.roles).toEqual(['user', 'admin']);
      expect(await repository.setRoles(randomUUID(), ['user'])).toBe(false);
    });

    it('grants admin once, verifying the address and setting the password only when given', async () => {
      const plain = await repository.insert(newUser({ roles: ['user'] }));
      expect(await transactions.run((tx) => repository.grantAdmin(plain.id, {}, tx))).toEqual({ rolesBefore: ['user'] });
      expect(await repository.findByIdWithPassword(plain.id)).toMatchObject({
        roles: ['user', 'admin'],
        emailVerified: true,
        passwordHash: HASH,
      });

      expect(await transactions.run((tx) => repository.grantAdmin(plain.id, { passwordHash: OTHER_HASH }, tx))).toEqual({
        rolesBefore: ['user', 'admin'],
      });
      expect(await repository.findByIdWithPassword(plain.id)).toMatchObject({ roles: ['user', 'admin'], passwordHash: OTHER_HASH });

      expect(await transactions.run((tx) => repository.grantAdmin(randomUUID(), {}, tx))).toBeNull();
    });
  });

  describe('self-service', () => {
    it('updates only the profile fields given; a taken username is USERNAME_TAKEN, null clears', async () => {
      const taken = await repository.insert(newUser({ username: 'taken' }));
      const user = await repository.insert(newUser({ username: 'before' }));
      expect(await repository.updateProfile(user.id, { displayName: 'Ada' })).toBe(true);
      expect(await repository.findById(user.id)).toMatchObject({ username: 'before', displayName: 'Ada' });
      await expect(repository.updateProfile(user.id, { username: taken.username })).rejects.toMatchObject({ code: 'USERNAME_TAKEN' });
      expect(await repository.updateProfile(user.id, { username: null, displayName: null })).toBe(true);
      expect(await repository.findById(user.id)).toMatchObject({ username: null, displayName: null });
      expect(await repository.updateProfile(randomUUID(), { displayName: 'x' })).toBe(false);
    });

    it('changes the email to a verified login unless it is taken or the account is inactive', async () => {
      const other = await repository.insert(newUser());
      const user = await repository.insert(newUser());
      await expect(transactions.run((tx) => repository.changeEmail(user.id, other.email, tx))).rejects.toMatchObject({
        code: 'EMAIL_TAKEN',
      });
      expect(await transactions.run((tx) => repository.changeEmail(user.id, 'moved@example.test', tx))).toBe(true);
      expect(await repository.findByEmail('moved@example.test')).toMatchObject({ id: user.id, emailVerified: true });
      await repository.setDeactivated(other.id, true);
      expect(await transactions.run((tx) => repository.changeEmail(other.id, 'other@example.test', tx))).toBe(false);
    });

    it('schedules erasure once, deactivating; the account is then found by no login and cannot be re-activated', async () => {
      const user = await repository.insert(newUser({ username: 'leaving' }));
      const before = Date.now();
      const eraseAfter = await transactions.run((tx) => repository.scheduleErasure(user.id, 3600, tx));
      expect(eraseAfter!.getTime()).toBeGreaterThanOrEqual(before + 3_599_000);
      expect(await transactions.run((tx) => repository.scheduleErasure(user.id, 0, tx))).toBeNull();
      expect((await repository.findById(user.id))?.deactivatedAt).toBeInstanceOf(Date);
      expect(await repository.findByEmailWithPassword(user.email)).toBeNull();
      expect(await repository.findByUsernameWithPassword('leaving')).toBeNull();
      expect(await repository.setDeactivated(user.id, false)).toBe(false);
      expect(await repository.updateProfile(user.id, { displayName: 'x' })).toBe(false);
    });

    it('counts the other admins who can still sign in', async () => {
      const admin = await repository.insert(newUser({ roles: ['user', 'admin'] }));
      const count = (): Promise<number> => transactions.run((tx) => repository.countOtherActiveAdmins(admin.id, tx));
      expect(await count()).toBe(0);
      const second = await repository.insert(newUser({ roles: ['admin'] }));
      expect(await count()).toBe(1);
      await repository.setDeactivated(second.id, true);
      expect(await count()).toBe(0);
      const third = await repository.insert(newUser({ roles: ['admin'] }));
      await transactions.run((tx) => repository.scheduleErasure(third.id, 60, tx));
      expect(await count()).toBe(0);
    });
  });

  describe('list', () => {
    async function insertMany(n: number): Promise<UserEntity[]> {
      const users: UserEntity[] = [];
      for (let i = 0; i < n; i += 1) users.push(await repository.insert(newUser({ username: `many${i}` })));
      return users;
    }

    it('pages newest first by creation millisecond, then id, with no user twice or missed', async () => {
      const users = await insertMany(5);
      const expected = [...users].sort(newestFirst).map((u) => u.id);
      const seen: string[] = [];
      let after: { at: string; id: string } | undefined;
      for (let page = 0; page < 3; page += 1) {
        const { items, hasMore } = await repository.list({ limit: 2, after });
        seen.push(...items.map((u) => u.id));
        expect(hasMore).toBe(page < 2);
        const last = items[items.length - 1];
        after = { at: last.createdAt.toISOString(), id: last.id };
      }
      expect(seen).toEqual(expected);
    });

    it('gives no password hashes and says when there is no more', async () => {
      await insertMany(2);
      const { items, hasMore } = await repository.list({ limit: 2 });
      expect(items).toHaveLength(2);
      expect(hasMore).toBe(false);
      expect(items.map((u) => u.passwordHash)).toEqual([undefined, undefined]);
    });

    it('filters on email and username exactly', async () => {
      const [first] = await insertMany(3);
      expect((await repository.list({ limit: 10, email: first.email })).items.map((u) => u.id)).toEqual([first.id]);
      expect((await repository.list({ limit: 10, username: 'many1' })).items.map((u) => u.username)).toEqual(['many1']);
      expect((await repository.list({ limit: 10, username: 'MANY1' })).items).toEqual([]);
      expect((await repository.list({ limit: 10, email: first.email, username: 'many1' })).items).toEqual([]);
    });
  });
}

function newestFirst(a: UserEntity, b: UserEntity): number {
  const at = b.createdAt.getTime() - a.createdAt.getTime();
  if (at !== 0) return at;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
