import request from 'supertest';

import { tokenOf, type SmtpSink } from './smtp-sink';
import { uniqueUser, type TestApp } from './test-app';

/**
 * Accounts for tests, through the real flows: sign up, log in, verify. One place, so a suite says
 * which account it needs rather than how the contract makes one.
 */

/** A gatehouse over HTTP (a test app, a gatehouse process, a base URL) or a message-pattern client. */
export type Target = { http(): ReturnType<typeof request> } | string | RpcSender;
interface RpcSender {
  send<T = unknown>(pattern: string, payload: unknown): Promise<T>;
}

export interface Credentials {
  email: string;
  username?: string;
  password: string;
}
/** A fresh, unique sign-up (email, username, password). */
export type NewUser = ReturnType<typeof uniqueUser>;
/** A registered account: the fields it signed up with and its id. */
export type Registered<U extends Credentials = NewUser> = U & { id: string };

export interface WireUser {
  id: string;
  email: string;
  username: string | null;
  emailVerified: boolean;
  roles: string[];
  deactivated: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A login's answer, over HTTP and RPC alike. */
export interface LoginBody {
  sessionId: string;
  tokens: { accessToken: string; refreshToken: string; tokenType: string; accessTokenExpiresAt: string; refreshTokenExpiresAt: string };
  user: WireUser;
}

/** A logged-in account: its sign-up fields, its login's answer, and the shortcuts suites use. */
export type SignedIn<U extends Credentials = NewUser> = Registered<U> &
  LoginBody & {
    accessToken: string;
    refreshToken: string;
    /** The Authorization header of the access token. */
    auth: { authorization: string };
  };

const isRpc = (target: Target): target is RpcSender => typeof target === 'object' && 'send' in target;
const http = (target: Exclude<Target, RpcSender>): ReturnType<typeof request> =>
  typeof target === 'string' ? request(target) : target.http();
const fields = <U extends Credentials>(user: string | U): U | NewUser => (typeof user === 'string' ? uniqueUser(user) : user);

export const bearer = (accessToken: string): { authorization: string } => ({ authorization: `Bearer ${accessToken}` });

/**
 * Registers with verification off (201 over HTTP): a fresh user for a prefix, or these exact fields.
 * Over RPC, `auth.register`.
 */
export async function registerUser(target: Target, prefix?: string): Promise<Registered>;
export async function registerUser<U extends Credentials>(target: Target, user: U): Promise<Registered<U>>;
export async function registerUser(target: Target, user: string | Credentials = 'user'): Promise<Registered<Credentials>> {
  const body = fields(user);
  const reply = isRpc(target)
    ? await target.send<{ user: WireUser }>('auth.register', body)
    : ((await http(target).post('/auth/register').send(body).expect(201)).body as { user: WireUser });
  return { ...body, id: reply.user.id };
}

/** Signs up where verification is required (202 over HTTP, no account details in the answer). */
export async function signUp(target: Exclude<Target, RpcSender>, prefix?: string): Promise<NewUser>;
export async function signUp<U extends Credentials>(target: Exclude<Target, RpcSender>, user: U): Promise<U>;
export async function signUp(target: Exclude<Target, RpcSender>, user: string | Credentials = 'user'): Promise<Credentials> {
  const body = fields(user);
  await http(target).post('/auth/register').send(body).expect(202);
  return body;
}

/** Logs in with this exact body (200 over HTTP, `auth.login` over RPC); the login's answer. */
export async function login(target: Target, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<LoginBody> {
  if (isRpc(target)) return target.send<LoginBody>('auth.login', body);
  return (await http(target).post('/auth/login').set(headers).send(body).expect(200)).body as LoginBody;
}

/** Logs an account in by email and password (and `extra`, e.g. a connection over RPC). */
export async function signIn<U extends Credentials>(target: Target, account: U, extra: Record<string, unknown> = {}): Promise<SignedIn<U>> {
  const body = await login(target, { email: account.email, password: account.password, ...extra });
  const { accessToken, refreshToken } = body.tokens;
  return { ...account, ...body, id: body.user.id, accessToken, refreshToken, auth: bearer(accessToken) };
}

/** A fresh account, registered (verification off) and logged in. */
export async function signedInUser(target: Target, prefix?: string, extra?: Record<string, unknown>): Promise<SignedIn>;
export async function signedInUser<U extends Credentials>(target: Target, user: U, extra?: Record<string, unknown>): Promise<SignedIn<U>>;
export async function signedInUser(
  target: Target,
  user: string | Credentials = 'user',
  extra: Record<string, unknown> = {},
): Promise<SignedIn<Credentials>> {
  return signIn(target, await registerUser(target, fields(user)), extra);
}

/**
 * A fresh account with a verified address, where verification is required: through the mailed link
 * when the suite has a sink, or set in the database where the link is not the subject (faster).
 */
export async function verifiedUser(t: TestApp, through: { sink: SmtpSink } | 'database', prefix = 'verified'): Promise<NewUser> {
  const u = await signUp(t, prefix);
  if (through === 'database') {
    await t.db.query(`UPDATE users SET email_verified = true WHERE email = $1`, [u.email]);
  } else {
    const [mail] = await through.sink.waitFor(1, u.email);
    await t
      .http()
      .post('/auth/email/verify')
      .send({ token: tokenOf(mail.links[0]) })
      .expect(200);
  }
  return u;
}

/** The token of the first mailed link to `address` whose URL contains `path`, waiting for it to arrive. */
export async function mailedToken(sink: SmtpSink, address: string, path: string, ms = 15_000): Promise<string> {
  for (let waited = 0; waited < ms; waited += 50) {
    const link = sink
      .to(address)
      .flatMap((m) => m.links)
      .find((l) => l.includes(path));
    if (link) return tokenOf(link);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no mail with a ${path} link reached ${address}`);
}
