import { accountServices, fakeHash } from '../../test/fakes/account-services.fake';
import { AppError, ErrorCode } from '../shared/errors/app-error';

const PASSWORD = 'correct horse battery staple';

describe('RegistrationService', () => {
  describe('with verification required', () => {
    let s: ReturnType<typeof accountServices>;
    beforeEach(() => {
      s = accountServices();
    });

    const userCount = async () => (await s.usersRepository.list({ limit: 100 })).items.length;

    it('creates an unverified user and mails a link that verifies it', async () => {
      expect(await s.registration.register({ email: ' New@Example.test', username: 'Newbie', password: PASSWORD })).toEqual({
        status: 'verification_sent',
      });
      const user = await s.usersRepository.findByEmailWithPassword('new@example.test');
      expect(user).toMatchObject({ username: 'newbie', emailVerified: false, passwordHash: fakeHash(PASSWORD) });
      expect(s.outbox.queued).toEqual([{ kind: 'verify_email', to: 'new@example.test', token: expect.any(String), choosePassword: false }]);
      expect(s.published.map((e) => [e.type, e.userId])).toEqual([['user.registered', user!.id]]);
      expect(s.outbox.wakeUps).toBe(1);
      await s.verification.verify(s.outbox.lastToken('verify_email', 'new@example.test'));
      expect(await s.users.findById(user!.id)).toMatchObject({ emailVerified: true });
    });

    it('answers a known, verified address the same, and tells only the mailbox', async () => {
      await s.users.create({ email: 'known@example.test', passwordHash: fakeHash('theirs'), emailVerified: true });
      expect(await s.registration.register({ email: 'KNOWN@example.test', password: PASSWORD })).toEqual({ status: 'verification_sent' });
      expect(s.outbox.queued).toEqual([{ kind: 'account_exists', to: 'known@example.test' }]);
      expect(await s.usersRepository.findByEmailWithPassword('known@example.test')).toMatchObject({ passwordHash: fakeHash('theirs') });
      expect(s.published).toEqual([]);
    });

    it('answers a taken username the same, creating nobody and mailing the address', async () => {
      await s.users.create({ email: 'first@example.test', username: 'taken', passwordHash: fakeHash('theirs') });
      expect(await s.registration.register({ email: 'second@example.test', username: 'Taken', password: PASSWORD })).toEqual({
        status: 'verification_sent',
      });
      expect(s.outbox.queued).toEqual([{ kind: 'username_taken', to: 'second@example.test', username: 'taken' }]);
      expect(await userCount()).toBe(1);
    });

    it('voids both claims to a contested unverified address and mails a link that asks for a password', async () => {
      const first = await s.users.create({ email: 'contested@example.test', username: 'first', passwordHash: fakeHash('first claimant') });
      expect(await s.registration.register({ email: 'contested@example.test', password: PASSWORD })).toEqual({
        status: 'verification_sent',
      });
      expect(await s.usersRepository.findByIdWithPassword(first.id)).toMatchObject({
        passwordHash: null,
        username: null,
        emailVerified: false,
      });
      expect(s.sessions.revoked).toEqual([{ userId: first.id, reason: 'contested_sign_up' }]);
      expect(s.sessions.announced).toEqual(['contested_sign_up']);
      expect(s.outbox.queued).toEqual([
        { kind: 'verify_email', to: 'contested@example.test', token: expect.any(String), choosePassword: true },
      ]);
      expect(s.published).toEqual([]);
      expect(await userCount()).toBe(1);
    });

    it('does nothing for a deactivated account, and nothing is mailed while the address is throttled', async () => {
      const off = await s.users.create({ email: 'off@example.test', passwordHash: fakeHash('theirs') });
      await s.usersRepository.setDeactivated(off.id, true);
      await s.registration.register({ email: 'off@example.test', password: PASSWORD });
      s.outbox.throttled.add('verify_email');
      expect(await s.registration.register({ email: 'throttled@example.test', password: PASSWORD })).toEqual({
        status: 'verification_sent',
      });
      expect(s.outbox.queued).toEqual([]);
      expect(await s.users.findByEmail('throttled@example.test')).toMatchObject({ emailVerified: false });
    });

    it('answers a sign-up that lost the race for its address as one for a known address', async () => {
      const insert = s.usersRepository.insert.bind(s.usersRepository);
      jest.spyOn(s.usersRepository, 'insert').mockImplementationOnce(async (user) => {
        // The winner's row commits between this sign-up's lookup and its insert.
        await insert({ ...user, passwordHash: fakeHash('winner'), emailVerified: true });
        throw new AppError(ErrorCode.EMAIL_TAKEN, 'email is already registered');
      });
      expect(await s.registration.register({ email: 'race@example.test', password: PASSWORD })).toEqual({ status: 'verification_sent' });
      expect(s.outbox.queued).toEqual([{ kind: 'account_exists', to: 'race@example.test' }]);
      expect(await s.usersRepository.findByEmailWithPassword('race@example.test')).toMatchObject({ passwordHash: fakeHash('winner') });
    });

    it('refuses a password built on the address before touching anything', async () => {
      await expect(s.registration.register({ email: 'marmalade@example.test', password: 'marmalade' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      expect(await userCount()).toBe(0);
    });
  });

  describe('without verification required', () => {
    it('answers the new user at once and still mails a link', async () => {
      const s = accountServices({ requireEmailVerification: false });
      const result = await s.registration.register({ email: 'open@example.test', password: PASSWORD });
      expect(result).toEqual({ user: expect.objectContaining({ email: 'open@example.test', emailVerified: false, roles: ['user'] }) });
      expect(result).not.toHaveProperty('user.passwordHash');
      expect(s.outbox.queued.map((m) => m.kind)).toEqual(['verify_email']);
      await expect(s.registration.register({ email: 'open@example.test', password: PASSWORD })).rejects.toMatchObject({
        code: 'EMAIL_TAKEN',
      });
    });
  });
});
