import { InMemoryLoginAttemptsRepository } from '../../test/fakes/login-attempts.repository.fake';
import type { AppConfig } from '../platform/config/app-config';
import { MetricsService } from '../platform/observability/metrics/metrics.service';
import { AppError, ErrorCode } from '../shared/errors/app-error';
import { LockoutService } from './lockout.service';

const THRESHOLD = 3;
const DURATION = 900;
const user = { id: 'u1', email: 'ann@example.com', username: 'ann' };

describe('LockoutService', () => {
  let now: number;
  let lockout: LockoutService;
  let metrics: MetricsService;

  beforeEach(() => {
    now = Date.UTC(2026, 0, 1);
    metrics = new MetricsService();
    jest.spyOn(metrics, 'accountLocked');
    const config = { lockout: { threshold: THRESHOLD, durationSeconds: DURATION } } as AppConfig;
    lockout = new LockoutService(config, new InMemoryLoginAttemptsRepository(() => now), metrics);
  });

  const byEmail = () => lockout.loginCounters({ email: 'Ann@Example.com' }, user);
  const byUsername = () => lockout.loginCounters({ username: 'Ann' }, user);

  /** A wrong password: counted first, then reported failed. */
  async function fail(counters: ReturnType<typeof byEmail>): Promise<void> {
    await lockout.failed(await lockout.begin(counters));
  }

  async function refusal(counters: ReturnType<typeof byEmail>): Promise<AppError> {
    const error: unknown = await lockout.begin(counters).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(ErrorCode.TOO_MANY_REQUESTS);
    return error as AppError;
  }

  describe('counters', () => {
    it('counts a login on the normalised identifier, and on the account with twice the limit when it exists', () => {
      expect(byEmail()).toEqual([
        { key: 'email:ann@example.com', limit: THRESHOLD },
        { key: 'user:u1', limit: 2 * THRESHOLD },
      ]);
      expect(lockout.loginCounters({ username: 'Ann' })).toEqual([{ key: 'username:ann', limit: THRESHOLD }]);
    });

    it('counts a password change on its own counter and the account', () => {
      expect(lockout.changeCounters('u1')).toEqual([
        { key: 'change:u1', limit: THRESHOLD },
        { key: 'user:u1', limit: 2 * THRESHOLD },
      ]);
    });
  });

  it('numbers the attempts of a run of failures on each counter', async () => {
    await fail(byEmail());
    await expect(lockout.begin(byUsername())).resolves.toEqual({
      counters: [
        { key: 'username:ann', limit: THRESHOLD, number: 1 },
        { key: 'user:u1', limit: 2 * THRESHOLD, number: 2 },
      ],
    });
  });

  it('locks the identifier at its limit, the correct password included, for the lock duration', async () => {
    for (let i = 0; i < THRESHOLD; i += 1) await fail(byEmail());
    expect((await refusal(byEmail())).details.retryAfter).toBe(DURATION);
    expect(metrics.accountLocked).toHaveBeenCalledTimes(1);
    now += 300_000;
    expect((await refusal(byEmail())).details.retryAfter).toBe(DURATION - 300);
    now += (DURATION - 300) * 1000;
    await expect(lockout.begin(byEmail())).resolves.toMatchObject({ counters: [{ number: 1 }, { number: THRESHOLD + 1 }] });
  });

  it('does not lock the email when the username locks', async () => {
    for (let i = 0; i < THRESHOLD; i += 1) await fail(byUsername());
    await refusal(byUsername());
    await expect(lockout.begin(byEmail())).resolves.toMatchObject({
      counters: [
        { key: 'email:ann@example.com', number: 1 },
        { key: 'user:u1', number: THRESHOLD + 1 },
      ],
    });
  });

  it('locks the account at twice the limit across its identifiers and password changes', async () => {
    for (let i = 0; i < THRESHOLD - 1; i += 1) {
      await fail(byEmail());
      await fail(byUsername());
    }
    await fail(lockout.changeCounters('u1'));
    await fail(lockout.changeCounters('u1'));
    // Neither identifier is at its limit; the account is.
    expect((await refusal(byEmail())).details.retryAfter).toBe(DURATION);
    await refusal(byUsername());
    expect(metrics.accountLocked).toHaveBeenCalledTimes(1);
  });

  it('does not count refused attempts on the account', async () => {
    for (let i = 0; i < THRESHOLD; i += 1) await fail(byUsername());
    for (let i = 0; i < 10; i += 1) await refusal(byUsername());
    await expect(lockout.begin(byEmail())).resolves.toMatchObject({ counters: [{ number: 1 }, { key: 'user:u1', number: THRESHOLD + 1 }] });
  });

  it('locks a counter that concurrent attempts took past its limit, and refuses the attempt that did', async () => {
    // Attempts begun but not yet failed, as concurrent ones are.
    for (let i = 0; i < THRESHOLD; i += 1) await lockout.begin(byEmail());
    expect((await refusal(byEmail())).details.retryAfter).toBe(DURATION);
    expect(metrics.accountLocked).toHaveBeenCalledTimes(1);
    await refusal(byEmail());
    expect(metrics.accountLocked).toHaveBeenCalledTimes(1);
  });

  it('starts every counter of the account again on clearFor, locks included', async () => {
    for (let i = 0; i < THRESHOLD; i += 1) await fail(byUsername());
    await fail(byEmail());
    await fail(lockout.changeCounters('u1'));
    await lockout.clearFor(user);
    await expect(lockout.begin(byUsername())).resolves.toMatchObject({ counters: [{ number: 1 }, { number: 1 }] });
    await expect(lockout.begin(byEmail())).resolves.toMatchObject({ counters: [{ number: 1 }, { number: 2 }] });
    await expect(lockout.begin(lockout.changeCounters('u1'))).resolves.toMatchObject({ counters: [{ number: 1 }, { number: 3 }] });
  });

  it('leaves other accounts and unknown identifiers alone on clearFor', async () => {
    await fail(lockout.loginCounters({ email: 'other@example.com' }));
    await lockout.clearFor(user);
    await expect(lockout.begin(lockout.loginCounters({ email: 'other@example.com' }))).resolves.toMatchObject({
      counters: [{ number: 2 }],
    });
  });
});
