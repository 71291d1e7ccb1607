import { randomUUID } from 'node:crypto';

import { describeMfaRepositories } from '../contracts/mfa.repositories.contract';
import {
  InMemoryMfaChallengesRepository,
  InMemoryMfaEncryptionKeysRepository,
  InMemoryMfaLockoutRepository,
  InMemoryRecoveryCodesRepository,
  InMemoryTotpRepository,
} from '../fakes/mfa.repositories.fake';

describe('in-memory second-factor repositories', () => {
  // Fresh fakes per test are already empty.
  describeMfaRepositories(() =>
    Promise.resolve({
      totp: new InMemoryTotpRepository(),
      recoveryCodes: new InMemoryRecoveryCodesRepository(),
      challenges: new InMemoryMfaChallengesRepository(),
      lockouts: new InMemoryMfaLockoutRepository(),
      keys: new InMemoryMfaEncryptionKeysRepository(),
      newUserId: () => Promise.resolve(randomUUID()),
      reset: () => Promise.resolve(),
    }),
  );
});
