import { accountServices, fakeHash } from '../../test/fakes/account-services.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import type { AuthContext } from '../shared/access/auth-context';

const OLD = 'the old passphrase';
const NEW = 'a brand new passphrase';

describe('PasswordRecoveryService', () => {
  let s: ReturnType<typeof accountServices>;
  beforeEach(() => {
    s = accountServices();
  });

  async function resetLink(email: string): Promise<string> {
    s.recovery.requestReset(email);
    await s.background.settled();
    return s.outbox.lastToken('password_reset', email);
  }

  describe('reset', () => {
    it('mails a link to a known address only, each new one voiding the older', async () => {
      await s.users.create({ email: 'ada@example.test', passwordHash: fakeHash(OLD), emailVerified: true });
      s.recovery.requestReset('ADA@example.test');
      await s.background.settled();
      const first = s.outbox.lastToken('password_reset', 'ada@example.test');
      const second = await resetLink('ada@example.test');
      s.recovery.requestReset('nobody@example.test');
      await s.background.settled();
      expect(s.outbox.queued.map((m) => [m.kind, m.to])).toEqual([
        ['password_reset', 'ada@example.test'],
        ['password_reset', 'ada@example.test'],
      ]);
      await expect(s.recovery.reset(first, NEW)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
      await s.recovery.reset(second, NEW);
    });

    it('sets the password once, signs out everywhere, voids verification links, ends the lock and mails the change', async () => {
      const user = await s.users.create({ email: 'reset@example.test', passwordHash: fakeHash(OLD), emailVerified: true });
      const token = await resetLink('reset@example.test');
      await s.recovery.reset(token, NEW);
      expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash(NEW) });
      expect(s.sessions.revoked).toEqual([{ userId: user.id, reason: 'password_reset' }]);
      expect(s.sessions.announced).toEqual(['password_reset']);
      expect(s.lockout.cleared).toEqual([user.id]);
      expect(s.delivered).toEqual([[`user:${user.id}`]]);
      expect(s.outbox.queued.at(-1)).toEqual({ kind: 'password_changed', to: 'reset@example.test' });
      expect(s.published.map((e) => [e.type, e.userId])).toEqual([['user.password_reset', user.id]]);
      await expect(s.recovery.reset(token, 'yet another passphrase')).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    });

    it('verifies the address it was mailed to, and voids its verification links', async () => {
      const user = await s.users.create({ email: 'unproven@example.test', passwordHash: fakeHash(OLD) });
      await s.verification.issue(user, {}, IN_MEMORY_TX);
      const verifyLink = s.outbox.lastToken('verify_email', 'unproven@example.test');
      await s.recovery.reset(await resetLink('unproven@example.test'), NEW);
      expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ emailVerified: true, passwordHash: fakeHash(NEW) });
      await expect(s.verification.verify(verifyLink)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    });

    it('refuses an unknown token, and a password built on the address without using the link', async () => {
      await expect(s.recovery.reset('no such token', NEW)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
      const user = await s.users.create({ email: 'marmalade@example.test', passwordHash: fakeHash(OLD), emailVerified: true });
      const token = await resetLink('marmalade@example.test');
      await expect(s.recovery.reset(token, 'marmalade')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await s.recovery.reset(token, NEW);
      expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash(NEW) });
    });
  });

  describe('change', () => {
    async function signedIn(overrides: Partial<AuthContext> = {}) {
      const user = await s.users.create({ email: 'me@example.test', passwordHash: fakeHash(OLD), emailVerified: true });
      return { user, auth: { userId: user.id, sessionId: 'session-1', isImpersonated: false, ...overrides } as AuthContext };
    }

    it('changes the password with the current one, ending every other session', async () => {
      const { user, auth } = await signedIn();
      await s.recovery.change(auth, OLD, NEW);
      expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash(NEW) });
      expect(s.sessions.revoked).toEqual([{ userId: user.id, exceptSessionId: 'session-1', reason: 'password_changed' }]);
      expect(s.outbox.queued).toEqual([{ kind: 'password_changed', to: 'me@example.test' }]);
      expect(s.published).toEqual([expect.objectContaining({ type: 'user.password_changed', userId: user.id, sessionId: 'session-1' })]);
    });

    it('refuses a wrong current password as a failed attempt, changing nothing', async () => {
      const { user, auth } = await signedIn();
      await expect(s.recovery.change(auth, 'a guess', NEW)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(s.lockout.failures).toBe(1);
      expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash(OLD) });
      expect(s.sessions.revoked).toEqual([]);
    });

    it('refuses an impersonated session', async () => {
      const { auth } = await signedIn({ isImpersonated: true });
      await expect(s.recovery.change(auth, OLD, NEW)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    });

    it('loses to a reset that replaced the checked password meanwhile', async () => {
      const { user, auth } = await signedIn();
      const check = s.usersRepository.findByIdWithPassword.bind(s.usersRepository);
      jest.spyOn(s.usersRepository, 'findByIdWithPassword').mockImplementationOnce(async (id) => {
        const checked = await check(id);
        // The reset lands after the password was read for checking.
        await s.usersRepository.setPasswordHash(user.id, fakeHash('reset meanwhile'), {});
        return checked;
      });
      await expect(s.recovery.change(auth, OLD, NEW)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
      expect(await check(user.id)).toMatchObject({ passwordHash: fakeHash('reset meanwhile') });
    });
  });
});
