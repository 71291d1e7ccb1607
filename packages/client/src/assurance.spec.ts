import 'reflect-metadata';

import { generateKeyPairSync, sign } from 'node:crypto';
import { HttpException, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { RpcException } from '@nestjs/microservices';
import { of } from 'rxjs';

import { assuranceOf } from './assurance.js';
import { GatehouseGuard } from './auth.guard.js';
import { requireCaller } from './caller.js';
import type { AuthClientOptions, AuthErrorBody } from './client-options.js';
import { OptionalAuth, Public, RequireAal, RequireRecentAuth, Roles } from './decorators.js';
import type { JwksKeyStore, PublicKeyEntry } from './jwks-key-store.js';
import { TokenVerifier } from './token-verifier.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KEY: PublicKeyEntry = { kid: 'k1', alg: 'ES256', key: publicKey };
const ISSUER = 'https://gatehouse.example';
// A fixed clock: every auth_time below is this many seconds since the epoch, give or take.
const NOW = 1_800_000_000;
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A gatehouse-shaped access token signed with the test key; `undefined` claims are left out. */
function token(extra: Record<string, unknown> = {}): string {
  const claims = { iss: ISSUER, sub: 'user-1', sid: 'session-1', iat: NOW, exp: NOW + 900, roles: ['user'], ...extra };
  const input = `${b64({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })}.${b64(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
const fresh = (extra: Record<string, unknown> = {}): string => token({ amr: ['pwd', 'otp'], aal: 2, auth_time: NOW - 10, ...extra });

function verifierOf(options: Partial<AuthClientOptions> = {}): TokenVerifier {
  const store = {
    get: (kid: string) => Promise.resolve(kid === KEY.kid ? KEY : undefined),
    hasKeys: true,
    isCurrent: (kid: string) => kid === KEY.kid,
  } as unknown as JwksKeyStore;
  return new TokenVerifier({ issuer: ISSUER, jwksUrl: 'unused', ...options }, store);
}

class Account {
  plain(): void {}

  @RequireAal(2)
  mfa(): void {}

  @RequireRecentAuth(300)
  recent(): void {}

  @RequireAal(2)
  @RequireRecentAuth(300)
  both(): void {}

  @Roles('admin')
  @RequireAal(2)
  adminMfa(): void {}

  @OptionalAuth()
  @RequireAal(2)
  optionalMfa(): void {}

  @OptionalAuth()
  @RequireRecentAuth(300)
  optionalRecent(): void {}
}

@RequireAal(2)
class Vault {
  open(): void {}

  @RequireAal(1)
  peek(): void {}

  @RequireRecentAuth(300)
  close(): void {}

  @Public()
  door(): void {}
}

@RequireRecentAuth(60)
class Settings {
  strict(): void {}

  @RequireRecentAuth(3600)
  lenient(): void {}
}

type Controller = typeof Account | typeof Vault | typeof Settings;
type Transport = 'http' | 'rpc';

function contextOf(transport: Transport, controller: Controller, handler: string, accessToken?: string): ExecutionContextHost {
  const method = (controller.prototype as unknown as Record<string, () => void>)[handler];
  const args =
    transport === 'http'
      ? [{ headers: accessToken ? { authorization: `Bearer ${accessToken}` } : {}, method: 'GET' }, {}, () => undefined]
      : [accessToken ? { accessToken } : {}, { transport: 'tcp' }];
  const host = new ExecutionContextHost(args, controller, method);
  host.setType(transport);
  return host;
}

/** The guard's answer over a transport: 'ok', or the body the caller receives. */
async function answer(
  transport: Transport,
  controller: Controller,
  handler: string,
  accessToken?: string,
  verifier = verifierOf(),
): Promise<'ok' | AuthErrorBody> {
  const guard = new GatehouseGuard(new Reflector(), verifier);
  try {
    await guard.canActivate(contextOf(transport, controller, handler, accessToken));
    return 'ok';
  } catch (error) {
    if (transport === 'http') {
      expect(error).toBeInstanceOf(HttpException);
      const response = (error as HttpException).getResponse() as AuthErrorBody;
      expect((error as HttpException).getStatus()).toBe(response.statusCode);
      return response;
    }
    expect(error).toBeInstanceOf(RpcException);
    return (error as RpcException).getError() as AuthErrorBody;
  }
}

const MFA_REQUIRED = { statusCode: 403, code: 'MFA_REQUIRED', message: 'a second factor is required' };
const REAUTH_REQUIRED = { statusCode: 401, code: 'REAUTH_REQUIRED', message: 'please re-authenticate' };
const FORBIDDEN = { statusCode: 403, code: 'FORBIDDEN', message: 'insufficient role' };
const MISSING = { statusCode: 401, code: 'UNAUTHORIZED', message: 'authentication required' };
const TRANSPORTS: Transport[] = ['http', 'rpc'];

let debug: jest.SpyInstance;
beforeEach(() => {
  jest.spyOn(Date, 'now').mockReturnValue(NOW * 1000 + 400);
  debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

describe('@RequireAal(2)', () => {
  describe.each(TRANSPORTS)('over %s', (transport) => {
    it.each<[string, Record<string, unknown>, 'ok' | typeof MFA_REQUIRED]>([
      ['without aal (as gatehouse issued before second factors)', { aal: undefined }, MFA_REQUIRED],
      ['aal 1', { aal: 1 }, MFA_REQUIRED],
      ['aal 2', { aal: 2 }, 'ok'],
      ['aal "2" (a string is not a level)', { aal: '2' }, MFA_REQUIRED],
      ['aal 3 (not one of gatehouse)', { aal: 3 }, MFA_REQUIRED],
    ])('a token with %s', async (_case, claims, expected) => {
      expect(await answer(transport, Account, 'mfa', fresh(claims))).toEqual(expected);
    });

    it('leaves handlers without it alone', async () => {
      expect(await answer(transport, Account, 'plain', token())).toBe('ok');
    });
  });

  it('is counted and logged as "aal", naming what the token has', async () => {
    const verifier = verifierOf();
    await answer('http', Account, 'mfa', token(), verifier);
    await answer('rpc', Account, 'mfa', token({ aal: 1 }), verifier);
    expect(verifier.refusals().aal).toBe(2);
    expect(debug.mock.calls.map((call) => call[0] as string)).toEqual([
      'refused (aal): needs aal 2, the token has no aal claim (counts as 1)',
      'refused (aal): needs aal 2, the token has aal 1',
    ]);
  });
});

describe('@RequireRecentAuth(300)', () => {
  describe.each(TRANSPORTS)('over %s', (transport) => {
    it.each<[string, unknown, 'ok' | typeof REAUTH_REQUIRED]>([
      ['no auth_time (as gatehouse issued before second factors)', undefined, REAUTH_REQUIRED],
      ['a fresh auth_time', NOW - 10, 'ok'],
      ['auth_time exactly 300 s ago', NOW - 300, 'ok'],
      ['auth_time 301 s ago', NOW - 301, REAUTH_REQUIRED],
      ['a stale auth_time (an hour ago)', NOW - 3600, REAUTH_REQUIRED],
      ['auth_time slightly ahead, within the clock leeway', NOW + 20, 'ok'],
      ['auth_time in the future beyond the leeway', NOW + 120, REAUTH_REQUIRED],
      ['auth_time as a string', String(NOW - 10), REAUTH_REQUIRED],
      ['auth_time 0', 0, REAUTH_REQUIRED],
    ])('a token with %s', async (_case, authTime, expected) => {
      expect(await answer(transport, Account, 'recent', token({ auth_time: authTime }))).toEqual(expected);
    });
  });

  it('judges the future by the configured clockTolerance', async () => {
    const strict = verifierOf({ clockTolerance: 0 });
    expect(await answer('http', Account, 'recent', token({ auth_time: NOW + 5 }), strict)).toEqual(REAUTH_REQUIRED);
    expect(await answer('http', Account, 'recent', token({ auth_time: NOW }), strict)).toBe('ok');
  });

  it('judges a cached verification against the clock of each call', async () => {
    const verifier = verifierOf();
    const t = token({ auth_time: NOW - 200 });
    expect(await answer('http', Account, 'recent', t, verifier)).toBe('ok');
    jest.spyOn(Date, 'now').mockReturnValue((NOW + 200) * 1000);
    expect(await answer('rpc', Account, 'recent', t, verifier)).toEqual(REAUTH_REQUIRED);
    expect(verifier.refusals().reauth).toBe(1);
    expect(debug.mock.calls.at(-1)?.[0]).toBe('refused (reauth): the last proof of a factor was 400 s ago, this handler allows 300 s');
  });
});

describe('composed with each other and with the other decorators', () => {
  it.each(TRANSPORTS)('asks for the second factor before a recent proof (%s)', async (transport) => {
    expect(await answer(transport, Account, 'both', token({ aal: 1, auth_time: NOW - 3600 }))).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Account, 'both', token({ aal: 2, auth_time: NOW - 3600 }))).toEqual(REAUTH_REQUIRED);
    expect(await answer(transport, Account, 'both', token({ aal: 2, auth_time: NOW - 10 }))).toBe('ok');
  });

  it.each(TRANSPORTS)('checks the role first: no second factor makes up for it (%s)', async (transport) => {
    expect(await answer(transport, Account, 'adminMfa', fresh())).toEqual(FORBIDDEN);
    expect(await answer(transport, Account, 'adminMfa', token({ roles: ['admin'], aal: 1 }))).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Account, 'adminMfa', fresh({ roles: ['admin'] }))).toBe('ok');
  });

  it.each(TRANSPORTS)('under @OptionalAuth() a token is required, as with @Roles() (%s)', async (transport) => {
    expect(await answer(transport, Account, 'optionalMfa')).toEqual(MISSING);
    expect(await answer(transport, Account, 'optionalRecent')).toEqual(MISSING);
    expect(await answer(transport, Account, 'optionalMfa', token())).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Account, 'optionalMfa', fresh())).toBe('ok');
  });
});

describe('on a controller, overridden by a method', () => {
  it.each(TRANSPORTS)('@RequireAal(2) on the class covers its handlers; @RequireAal(1) on one relaxes it (%s)', async (transport) => {
    expect(await answer(transport, Vault, 'open', token({ aal: 1 }))).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Vault, 'open', fresh())).toBe('ok');
    expect(await answer(transport, Vault, 'peek', token({ aal: 1 }))).toBe('ok');
  });

  it.each(TRANSPORTS)("a method's @RequireRecentAuth() adds to the class's @RequireAal() (%s)", async (transport) => {
    expect(await answer(transport, Vault, 'close', token({ aal: 1, auth_time: NOW - 10 }))).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Vault, 'close', fresh({ auth_time: NOW - 400 }))).toEqual(REAUTH_REQUIRED);
    expect(await answer(transport, Vault, 'close', fresh())).toBe('ok');
  });

  it.each(TRANSPORTS)('@Public() on a method opens it whatever the class asks (%s)', async (transport) => {
    expect(await answer(transport, Vault, 'door')).toBe('ok');
  });

  it.each(TRANSPORTS)("a method's @RequireRecentAuth() overrides the class's, in both directions (%s)", async (transport) => {
    const minutesAgo = token({ auth_time: NOW - 120 });
    expect(await answer(transport, Settings, 'strict', minutesAgo)).toEqual(REAUTH_REQUIRED);
    expect(await answer(transport, Settings, 'lenient', minutesAgo)).toBe('ok');
  });
});

describe('the caller', () => {
  it.each(TRANSPORTS)('carries amr, aal and authTime over %s', async (transport) => {
    const ctx = contextOf(transport, Account, 'both', fresh());
    await new GatehouseGuard(new Reflector(), verifierOf()).canActivate(ctx);
    expect(requireCaller(ctx)).toMatchObject({ userId: 'user-1', amr: ['pwd', 'otp'], aal: 2, authTime: NOW - 10 });
  });

  it('has an empty amr, aal 1 and a null authTime for a token without them', async () => {
    await expect(verifierOf().verify(token())).resolves.toMatchObject({ amr: [], aal: 1, authTime: null });
  });

  it.each<[string, Record<string, unknown>, ReturnType<typeof assuranceOf>]>([
    ['a password login', { amr: ['pwd'], aal: 1, auth_time: NOW }, { amr: ['pwd'], aal: 1, authTime: NOW }],
    ['a passkey', { amr: ['hwk', 'user'], aal: 2, auth_time: NOW }, { amr: ['hwk', 'user'], aal: 2, authTime: NOW }],
    ['amr with other values than strings', { amr: ['pwd', 7, null] }, { amr: ['pwd'], aal: 1, authTime: null }],
    ['amr that is not a list', { amr: 'pwd' }, { amr: [], aal: 1, authTime: null }],
    ['auth_time that is not a finite number', { auth_time: Number.NaN }, { amr: [], aal: 1, authTime: null }],
    ['a negative auth_time', { auth_time: -5 }, { amr: [], aal: 1, authTime: null }],
  ])('is read from the claims of %s', (_case, claims, expected) => {
    expect(assuranceOf(claims)).toEqual(expected);
  });
});

describe('live mode', () => {
  /** A verifier whose `auth.verify` answers with these claims, as gatehouse does. */
  function live(claims: Record<string, unknown>): TokenVerifier {
    const verifier = verifierOf({ live: { transport: 'tcp', host: '127.0.0.1', port: 1 } });
    const reply = { userId: 'user-1', sessionId: 'session-1', roles: ['user'], isImpersonated: false, claims };
    (verifier as unknown as { live: { send: () => unknown } }).live = { send: () => of(reply) };
    return verifier;
  }

  it.each(TRANSPORTS)("judges gatehouse's answer over %s, the same as offline", async (transport) => {
    const t = token();
    expect(await answer(transport, Account, 'both', t, live({ aal: 1, auth_time: NOW - 10 }))).toEqual(MFA_REQUIRED);
    expect(await answer(transport, Account, 'both', t, live({ aal: 2 }))).toEqual(REAUTH_REQUIRED);
    expect(await answer(transport, Account, 'both', t, live({ aal: 2, auth_time: NOW - 400 }))).toEqual(REAUTH_REQUIRED);
    expect(await answer(transport, Account, 'both', t, live({ aal: 2, auth_time: NOW - 10 }))).toBe('ok');
  });

  it("gives the caller the answer's amr, aal and authTime", async () => {
    await expect(live({ amr: ['pwd', 'otp'], aal: 2, auth_time: NOW - 10 }).verify(token())).resolves.toMatchObject({
      amr: ['pwd', 'otp'],
      aal: 2,
      authTime: NOW - 10,
    });
  });
});

describe('the decorators refuse a bad argument when the class is defined', () => {
  it.each([0, 3, 1.5, '2', null, undefined])('@RequireAal(%p)', (level) => {
    expect(() => RequireAal(level as 1)).toThrow(/^gatehouse\/client: @RequireAal\(\) takes 1 or 2 \(got /);
  });

  it.each([0, -300, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '300', null, undefined])('@RequireRecentAuth(%p)', (seconds) => {
    expect(() => RequireRecentAuth(seconds as number)).toThrow(
      /^gatehouse\/client: @RequireRecentAuth\(\) takes a positive whole number of seconds \(got /,
    );
  });

  it('accepts the levels and a positive whole number of seconds', () => {
    expect(() => [RequireAal(1), RequireAal(2), RequireRecentAuth(1), RequireRecentAuth(86_400)]).not.toThrow();
  });
});
