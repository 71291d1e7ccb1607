import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';

import { DatabaseConnection } from '../platform/database/database-connection.js';
import { generateOpaqueToken, sha256Hex } from '../shared/crypto.js';
import { MfaChallengesRepository, type LoginContext, type MfaChallenge } from './mfa-challenges.repository.js';

export type { LoginContext, MfaChallenge } from './mfa-challenges.repository.js';

/** How long the step between factors lasts. */
export const MFA_CHALLENGE_TTL_SECONDS = 300;
/** Wrong codes a challenge survives: the fifth kills it. */
export const MFA_CHALLENGE_MAX_ATTEMPTS = 5;
const PURGE_EVERY_MS = 10 * 60_000;
const PURGE_BATCH = 1000;
const MFA_TOKEN = /^[A-Za-z0-9_-]{43}$/;

export interface CreatedChallenge {
  /** The opaque token the client sends back with its second factor; only its SHA-256 is stored. */
  mfaToken: string;
  challengeId: string;
  expiresIn: number;
}

/**
 * The step between factors: after a first factor, a user with a second factor gets an mfaToken
 * (256 bits, stored hashed) that lives 5 minutes, dies after 5 wrong codes, and is consumed once.
 * Expired challenges are purged by every instance every 10 minutes.
 */
@Injectable()
export class MfaChallengesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(MfaChallengesService.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly challenges: MfaChallengesRepository,
    private readonly database: DatabaseConnection,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.database.whenConnected('scheduling the purge of MFA challenges', () => {
      this.timer = setInterval(
        () => void this.purgeExpired().catch((e: Error) => this.logger.warn(`MFA challenge purge failed: ${e.message}`)),
        PURGE_EVERY_MS,
      );
      this.timer.unref();
    });
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async create(userId: string, firstFactor: string, loginContext: LoginContext): Promise<CreatedChallenge> {
    const mfaToken = generateOpaqueToken();
    const challenge = await this.challenges.create({
      tokenHash: sha256Hex(mfaToken),
      userId,
      firstFactor,
      loginContext,
      ttlSeconds: MFA_CHALLENGE_TTL_SECONDS,
    });
    return { mfaToken, challengeId: challenge.id, expiresIn: MFA_CHALLENGE_TTL_SECONDS };
  }

  /** The live challenge of this token: unexpired, unconsumed, under 5 wrong codes; else null. */
  find(mfaToken: string): Promise<MfaChallenge | null> {
    if (typeof mfaToken !== 'string' || !MFA_TOKEN.test(mfaToken)) return Promise.resolve(null);
    return this.challenges.findLive(sha256Hex(mfaToken), MFA_CHALLENGE_MAX_ATTEMPTS);
  }

  /** Counts a wrong code, atomically; `dead` once the challenge can take no more (or was not live). */
  async recordWrongCode(challengeId: string): Promise<{ attempts: number; dead: boolean }> {
    const attempts = await this.challenges.recordWrongCode(challengeId, MFA_CHALLENGE_MAX_ATTEMPTS);
    return attempts === null
      ? { attempts: MFA_CHALLENGE_MAX_ATTEMPTS, dead: true }
      : { attempts, dead: attempts >= MFA_CHALLENGE_MAX_ATTEMPTS };
  }

  /** Consumes the live challenge of this token: exactly one of concurrent calls gets it, the others null. */
  consume(mfaToken: string): Promise<MfaChallenge | null> {
    if (typeof mfaToken !== 'string' || !MFA_TOKEN.test(mfaToken)) return Promise.resolve(null);
    return this.challenges.consume(sha256Hex(mfaToken), MFA_CHALLENGE_MAX_ATTEMPTS);
  }

  /** Deletes expired challenges in batches; how many. */
  async purgeExpired(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.challenges.purgeExpired({ graceSeconds: 0, limit: PURGE_BATCH });
      total += n;
      if (n < PURGE_BATCH) return total;
    }
  }
}
