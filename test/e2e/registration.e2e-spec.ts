import { startTestApp, TestApp, uniqueUser } from '../support/test-app';

describe('registration', () => {
  describe('with REQUIRE_EMAIL_VERIFICATION=false', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ REQUIRE_EMAIL_VERIFICATION: 'false' });
    });
    afterAll(() => t.close());

    it('10 concurrent sign-ups of one address give exactly one account and nine EMAIL_TAKEN', async () => {
      const u = uniqueUser('race');
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          t
            .http()
            .post('/auth/register')
            .send({ email: u.email, password: u.password, username: `${u.username.slice(0, 28)}r${i}` }),
        ),
      );
      expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(9).fill(409)]);
      expect(results.filter((r) => r.status === 409).every((r) => r.body.code === 'EMAIL_TAKEN')).toBe(true);
      const rows = await t.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [u.email]);
      expect(rows[0].n).toBe(1);
    });

    it('concurrent sign-ups over TCP and REST at once still give one account', async () => {
      const u = uniqueUser('race2');
      const attempts = await Promise.allSettled([
        ...Array.from({ length: 4 }, () => t.rpc.tcp.send('auth.register', { email: u.email, password: u.password })),
        ...Array.from({ length: 4 }, () =>
          t
            .http()
            .post('/auth/register')
            .send({ email: u.email, password: u.password })
            .then((r) => {
              if (r.status !== 201) throw r.body;
              return r.body;
            }),
        ),
      ]);
      expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
      const rows = await t.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [u.email]);
      expect(rows[0].n).toBe(1);
    });
  });

  describe('with REQUIRE_EMAIL_VERIFICATION=true (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ REQUIRE_EMAIL_VERIFICATION: 'true' });
    });
    afterAll(() => t.close());

    it('answers 202 verification_sent for a new and an existing address alike; a second sign-up voids the unverified claims', async () => {
      const u = uniqueUser('verif');
      const first = await t.http().post('/auth/register').send(u).expect(202);
      const before = await t.db.query('SELECT id, password_hash, username FROM users WHERE email = $1', [u.email]);
      expect(before[0]).toMatchObject({ password_hash: expect.stringMatching(/^\$argon2id\$/), username: u.username });
      const second = await t
        .http()
        .post('/auth/register')
        .send({ ...u, password: 'a different password' })
        .expect(202);
      expect(first.body).toEqual({ status: 'verification_sent' });
      expect(second.text).toBe(first.text);
      const after = await t.db.query('SELECT id, password_hash, username FROM users WHERE email = $1', [u.email]);
      expect(after).toEqual([{ id: before[0].id, password_hash: null, username: null }]);
      expect(await t.rpc.tcp.send('auth.register', u)).toEqual({ status: 'verification_sent' });
    });

    it('answers a taken username exactly like a free one, for new and known addresses alike, creating nothing', async () => {
      const holder = uniqueUser('holder');
      await t.http().post('/auth/register').send(holder).expect(202);
      const known = uniqueUser('known');
      await t.http().post('/auth/register').send(known).expect(202);
      const fresh = uniqueUser('newaddr');
      const free = await t.http().post('/auth/register').send(uniqueUser('freename')).expect(202);
      const forNew = await t
        .http()
        .post('/auth/register')
        .send({ ...fresh, username: holder.username })
        .expect(202);
      const forKnown = await t
        .http()
        .post('/auth/register')
        .send({ ...known, username: holder.username })
        .expect(202);
      expect(forNew.text).toBe(free.text);
      expect(forKnown.text).toBe(free.text);
      expect(await t.rpc.tcp.send('auth.register', { ...uniqueUser('rpcaddr'), username: holder.username })).toEqual({
        status: 'verification_sent',
      });
      expect((await t.db.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [fresh.email]))[0].n).toBe(0);
      expect(await t.db.query('SELECT email FROM users WHERE username = $1', [holder.username])).toEqual([{ email: holder.email }]);
    });

    it('refuses login with EMAIL_NOT_VERIFIED only after the correct password', async () => {
      const u = uniqueUser('unverified');
      await t.http().post('/auth/register').send(u).expect(202);
      const wrong = await t.http().post('/auth/login').send({ email: u.email, password: 'wrong password' }).expect(401);
      expect(wrong.body.code).toBe('INVALID_CREDENTIALS');
      const right = await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(403);
      expect(right.body).toEqual({ statusCode: 403, code: 'EMAIL_NOT_VERIFIED', message: expect.any(String) });
      expect(await t.rpc.tcp.fail('auth.login', { email: u.email, password: u.password })).toMatchObject({ code: 'EMAIL_NOT_VERIFIED' });
      const sessions = await t.db.query('SELECT count(*)::int AS n FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1', [
        u.email,
      ]);
      expect(sessions[0].n).toBe(0);
    });
  });
});
