import { Secret, TOTP } from 'otpauth';

import { TotpService } from '../../src/mfa/totp.service';
import type { TestApp } from './test-app';

const STEP_MS = 30_000;

/**
 * Waits, if need be, until the clock is at least 2 s away from a step's edge, so that a code computed
 * for now±k steps is the one the service computes when it checks it a moment later.
 */
export async function awayFromStepEdge(): Promise<void> {
  const into = Date.now() % STEP_MS;
  if (into > STEP_MS - 2_500) await new Promise((r) => setTimeout(r, STEP_MS - into + 500));
  else if (into < 500) await new Promise((r) => setTimeout(r, 500 - into));
}

/** The code of a base32 secret for the step `offset` steps from now (−1: now − 30 s). */
export function totpCode(base32Secret: string, offset = 0): string {
  return TOTP.generate({
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    secret: Secret.fromBase32(base32Secret),
    timestamp: Date.now() + offset * STEP_MS,
  });
}

/**
 * Gives a user a confirmed TOTP factor through the service itself (as setup and confirm would), and
 * forgets the step the confirmation used, so a test may start from any step of the window. Its base32
 * secret, for the test to compute codes.
 */
export async function enrolTotp(t: TestApp, user: { id: string; email: string }): Promise<string> {
  const totp = t.app.get(TotpService);
  const setup = await totp.startSetup(user);
  if (!setup) throw new Error('the user has a confirmed factor already');
  await awayFromStepEdge();
  if (!(await totp.confirm(user.id, totpCode(setup.secret)))) throw new Error('confirmation refused');
  await t.db.query('UPDATE mfa_totp SET last_step = NULL WHERE user_id = $1', [user.id]);
  return setup.secret;
}
