import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import type { AppConfig } from '../../platform/config/app-config.js';
import type { AuthContext } from '../../shared/access/auth-context.js';
import { RequireAal, RequireRecentAuth } from '../../shared/access/decorators.js';
import { AppError } from '../../shared/errors/app-error.js';
import { AssuranceGuard } from './assurance.guard.js';

class Routes {
  open(): void {}

  @RequireAal(2)
  secondFactor(): void {}

  @RequireRecentAuth()
  recent(): void {}

  @RequireRecentAuth(60)
  recentMinute(): void {}

  @RequireAal(2)
  @RequireRecentAuth()
  both(): void {}
}

@RequireAal(2)
class StrictRoutes {
  inherited(): void {}

  @RequireAal(1)
  relaxed(): void {}
}

const now = (): number => Math.floor(Date.now() / 1000);

function contextFor(
  controller: new () => object,
  handler: string,
  claims: Record<string, unknown>,
  isImpersonated = false,
): ExecutionContext {
  const user = { claims, isImpersonated } as AuthContext;
  const request = { headers: {}, user };
  return {
    getType: () => 'http',
    getClass: () => controller,
    getHandler: () => (controller.prototype as Record<string, unknown>)[handler],
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

describe('AssuranceGuard', () => {
  const guard = new AssuranceGuard(new Reflector(), { reauthMaxAge: 300 } as AppConfig);
  const outcome = (controller: new () => object, handler: string, claims: Record<string, unknown>, isImpersonated = false): string => {
    try {
      return guard.canActivate(contextFor(controller, handler, claims, isImpersonated)) ? 'allowed' : 'refused';
    } catch (error) {
      return error instanceof AppError ? error.code : String(error);
    }
  };

  it('lets an undecorated route through whatever the claims', () => {
    expect(outcome(Routes, 'open', {})).toBe('allowed');
  });

  it('@RequireAal(2): aal 2 passes; aal 1 or none is MFA_REQUIRED', () => {
    expect(outcome(Routes, 'secondFactor', { aal: 2 })).toBe('allowed');
    expect(outcome(Routes, 'secondFactor', { aal: 1 })).toBe('MFA_REQUIRED');
    expect(outcome(Routes, 'secondFactor', {})).toBe('MFA_REQUIRED');
    expect(outcome(Routes, 'secondFactor', { aal: '2' })).toBe('MFA_REQUIRED');
  });

  it('@RequireRecentAuth(): within REAUTH_MAX_AGE passes; older, missing or malformed auth_time is REAUTH_REQUIRED', () => {
    expect(outcome(Routes, 'recent', { auth_time: now() - 10 })).toBe('allowed');
    expect(outcome(Routes, 'recent', { auth_time: now() - 299 })).toBe('allowed');
    expect(outcome(Routes, 'recent', { auth_time: now() - 302 })).toBe('REAUTH_REQUIRED');
    expect(outcome(Routes, 'recent', {})).toBe('REAUTH_REQUIRED');
    expect(outcome(Routes, 'recent', { auth_time: String(now()) })).toBe('REAUTH_REQUIRED');
  });

  it('@RequireRecentAuth(60) uses its own age', () => {
    expect(outcome(Routes, 'recentMinute', { auth_time: now() - 30 })).toBe('allowed');
    expect(outcome(Routes, 'recentMinute', { auth_time: now() - 62 })).toBe('REAUTH_REQUIRED');
  });

  it('refuses an impersonation on a recent route, however fresh its token', () => {
    expect(outcome(Routes, 'recent', { auth_time: now() }, true)).toBe('FORBIDDEN');
  });

  it('checks the level before the age: re-authenticating cannot make up for a missing second factor', () => {
    expect(outcome(Routes, 'both', { aal: 1, auth_time: now() - 1000 })).toBe('MFA_REQUIRED');
    expect(outcome(Routes, 'both', { aal: 2, auth_time: now() - 1000 })).toBe('REAUTH_REQUIRED');
    expect(outcome(Routes, 'both', { aal: 2, auth_time: now() })).toBe('allowed');
  });

  it("takes the controller's requirement, the handler's winning", () => {
    expect(outcome(StrictRoutes, 'inherited', { aal: 1 })).toBe('MFA_REQUIRED');
    expect(outcome(StrictRoutes, 'relaxed', { aal: 1 })).toBe('allowed');
  });

  it('RequireRecentAuth refuses an age that is not a positive whole number of seconds', () => {
    for (const bad of [0, -5, 1.5, Number.NaN]) expect(() => RequireRecentAuth(bad)).toThrow(/positive whole number/);
  });
});
