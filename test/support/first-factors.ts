import type { Registered } from './accounts';
import type { TestApp } from './test-app';

/**
 * Every way a user proves a first factor, over every transport. The second-factor gate's contract
 * (test/e2e/mfa-gate.e2e-spec.ts) runs each one: a first factor added later (email link, social
 * login, a passkey without user verification) is added here, and is then held to the same gate.
 */
export interface FirstFactor {
  name: string;
  /** The RFC 8176 methods a session opened by it carries. */
  amr: string[];
  /** Proves the factor for the user; the answer's body (a LoginResult or the step to the second factor). */
  signIn(t: TestApp, user: Registered): Promise<unknown>;
}

export const FIRST_FACTORS: FirstFactor[] = [
  {
    name: 'password over REST (POST /auth/login)',
    amr: ['pwd'],
    signIn: async (t, u) => (await t.http().post('/auth/login').send({ email: u.email, password: u.password }).expect(200)).body as unknown,
  },
  {
    name: 'password by username over REST',
    amr: ['pwd'],
    signIn: async (t, u) =>
      (await t.http().post('/auth/login').send({ username: u.username, password: u.password }).expect(200)).body as unknown,
  },
  {
    name: 'password over TCP (auth.login)',
    amr: ['pwd'],
    signIn: (t, u) => t.rpc.tcp.send('auth.login', { email: u.email, password: u.password }),
  },
  {
    name: 'password over Redis (auth.login)',
    amr: ['pwd'],
    signIn: (t, u) => t.rpc.redis.send('auth.login', { email: u.email, password: u.password }),
  },
];
