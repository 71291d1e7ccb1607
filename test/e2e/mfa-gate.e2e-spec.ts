import { registerUser } from '../support/accounts';
import { FIRST_FACTORS } from '../support/first-factors';
import { startTestApp, type TestApp } from '../support/test-app';
import { decodeJwt } from '../support/tokens';
import { enrolTotp } from '../support/totp';

/** The contract of the second-factor gate: every first factor, every transport, one answer. */
describe('every first factor goes through the second-factor gate', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  describe.each(FIRST_FACTORS.map((f) => [f.name, f] as const))('%s', (_name, factor) => {
    it('a user with a confirmed factor gets the step and no tokens; nothing is opened', async () => {
      const u = await registerUser(t, 'gate');
      await enrolTotp(t, u);
      expect(await factor.signIn(t, u)).toEqual({
        mfaRequired: true,
        mfaToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        methods: ['totp', 'recovery_code'],
        expiresIn: 300,
      });
      expect(await t.db.query('SELECT 1 FROM sessions WHERE user_id = $1', [u.id])).toEqual([]);
      const [challenge] = await t.db.query(`SELECT login_context -> 'amr' AS amr FROM mfa_challenges WHERE user_id = $1`, [u.id]);
      expect(challenge).toEqual({ amr: factor.amr });
    });

    it('a user without one gets the session at aal 1, with what the factor proved', async () => {
      const u = await registerUser(t, 'nogate');
      const body = (await factor.signIn(t, u)) as { sessionId: string; tokens: { accessToken: string } };
      expect(decodeJwt(body.tokens.accessToken).payload).toMatchObject({ sub: u.id, sid: body.sessionId, amr: factor.amr, aal: 1 });
    });
  });
});
