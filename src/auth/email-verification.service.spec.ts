import { accountServices, fakeHash } from '../../test/fakes/account-services.fake';
import { IN_MEMORY_TX } from '../../test/fakes/transactions.fake';
import { USER_DEACTIVATED } from '../events/events';

const NEW_PASSWORD = 'a brand new passphrase';

describe('EmailVerificationService', () => {
  let s: ReturnType<typeof accountServices>;
  beforeEach(() => {
    s = accountServices();
  });

  async function unverified(email: string, passwordHash: string | null = fakeHash('chosen at sign-up')) {
    const user = await s.users.create({ email, passwordHash: passwordHash ?? 'voided below' });
    if (passwordHash === null) await s.usersRepository.voidUnverifiedClaims(user.id);
    await s.verification.issue(user, {}, IN_MEMORY_TX);
    return { user, token: s.outbox.lastToken('verify_email', email) };
  }

  it('verifies the address once, keeps the password, and voids the other links', async () => {
    const { user, token } = await unverified('ada@example.test');
    await s.verification.issue(user, {}, IN_MEMORY_TX);
    const other = s.outbox.lastToken('verify_email', 'ada@example.test');

    const { user: verified } = await s.verification.verify(token);
    expect(verified).toMatchObject({ id: user.id, emailVerified: true });
    expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash('chosen at sign-up') });
    expect(s.published.map((e) => e.type)).toEqual(['user.email_verified']);
    expect(s.delivered).toEqual([[`user:${user.id}`]]);
    expect(s.sessions.revoked).toEqual([]);
    await expect(s.verification.verify(token)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    await expect(s.verification.verify(other)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('refuses an unknown token, and a link for an address the user no longer has', async () => {
    await expect(s.verification.verify('no such token')).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    const { user } = await unverified('then@example.test');
    // The link was mailed to an address that is not the user's now.
    await s.verification.issue({ id: user.id, email: 'elsewhere@example.test' }, {}, IN_MEMORY_TX);
    await expect(s.verification.verify(s.outbox.lastToken('verify_email', 'elsewhere@example.test'))).rejects.toMatchObject({
      code: 'INVALID_TOKEN',
    });
    expect(await s.users.findById(user.id)).toMatchObject({ emailVerified: false });
  });

  it('asks for a password on a contested account, verifying nothing without one', async () => {
    // That the link stays usable is the rolled-back transaction's doing: the e2e suites show it.
    const { user, token } = await unverified('contested@example.test', null);
    await expect(s.verification.verify(token)).rejects.toMatchObject({ code: 'PASSWORD_REQUIRED' });
    expect(await s.users.findById(user.id)).toMatchObject({ emailVerified: false });
    expect(s.published).toEqual([]);
  });

  it('sets a chosen password, signs the account out everywhere and mails the change', async () => {
    const { user, token } = await unverified('choose@example.test');
    await s.verification.verify(token, NEW_PASSWORD);
    expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({
      emailVerified: true,
      passwordHash: fakeHash(NEW_PASSWORD),
    });
    expect(s.sessions.revoked).toEqual([{ userId: user.id, reason: 'email_verified_with_new_password' }]);
    expect(s.sessions.announced).toEqual(['email_verified_with_new_password']);
    expect(s.lockout.cleared).toEqual([user.id]);
    expect(s.outbox.queued.at(-1)).toEqual({ kind: 'password_changed', to: 'choose@example.test' });
  });

  it('refuses a chosen password built on the address without using the link', async () => {
    const { user, token } = await unverified('marmalade@example.test');
    await expect(s.verification.verify(token, 'marmalade')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await s.verification.verify(token);
    expect(await s.users.findById(user.id)).toMatchObject({ emailVerified: true });
  });

  it('changes nothing with a late link once the address is verified', async () => {
    const { user, token } = await unverified('late@example.test');
    await s.usersRepository.markEmailVerified(user.id, 'late@example.test', undefined);
    await expect(s.verification.verify(token, NEW_PASSWORD)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    expect(await s.usersRepository.findByIdWithPassword(user.id)).toMatchObject({ passwordHash: fakeHash('chosen at sign-up') });
  });

  it('voids the links of a deactivated account', async () => {
    const { user, token } = await unverified('gone@example.test');
    await s.verification.onUserDeactivated({ type: USER_DEACTIVATED, at: new Date().toISOString(), userId: user.id });
    await expect(s.verification.verify(token)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('resends a link to a known unverified address only, asking for a password where it was voided', async () => {
    await unverified('again@example.test', null);
    await s.users.create({ email: 'proven@example.test', passwordHash: fakeHash('x'), emailVerified: true });
    s.outbox.queued.length = 0;
    for (const email of ['AGAIN@example.test', 'proven@example.test', 'nobody@example.test']) s.verification.requestResend(email);
    await s.background.settled();
    expect(s.outbox.queued).toEqual([{ kind: 'verify_email', to: 'again@example.test', token: expect.any(String), choosePassword: true }]);
    expect(s.outbox.wakeUps).toBe(1);
  });
});
