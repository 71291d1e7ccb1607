import { availableParallelism } from 'node:os';
import * as argon2 from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';

import { ARGON2_PARAMS, PasswordHasher } from './password-hasher.service';

// The real argon2 functions, watched: which hashes each check verifies against.
jest.mock('@node-rs/argon2', () => {
  const real = jest.requireActual<typeof import('@node-rs/argon2')>('@node-rs/argon2');
  return { ...real, verify: jest.fn(real.verify) };
});

const verify = argon2.verify as jest.MockedFunction<typeof argon2.verify>;
const isNative = (hash: string): boolean =>
  hash.startsWith(`$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`);

describe('PasswordHasher: every check costs at least one native argon2id verify', () => {
  const hasher = new PasswordHasher();
  let native: string;
  let bcrypt4: string;
  let weakArgon2: string;

  beforeAll(async () => {
    await hasher.onModuleInit();
    native = await hasher.hash('correct horse battery staple');
    bcrypt4 = await bcryptHash('correct horse battery staple', { cost: 4 });
    weakArgon2 = await argon2.hash('correct horse battery staple', { algorithm: 2, memoryCost: 1024, timeCost: 1, parallelism: 1 });
  });
  beforeEach(() => verify.mockClear());

  const nativeVerifies = (): number => verify.mock.calls.filter(([hash]) => typeof hash === 'string' && isNative(hash)).length;

  it.each([
    ['a native hash', () => native],
    ['an imported bcrypt (cost 4) hash', () => bcrypt4],
    ['a weaker argon2 hash', () => weakArgon2],
    ['no user', () => undefined],
    ['an unsupported hash', () => '$1$legacy$md5crypt'],
  ])('wrong password against %s', async (_name, stored) => {
    expect((await hasher.check(stored(), 'not the password at all')).ok).toBe(false);
    expect(nativeVerifies()).toBe(1);
  });

  it.each([
    ['an imported bcrypt (cost 4) hash', () => bcrypt4],
    ['a weaker argon2 hash', () => weakArgon2],
  ])('right password against %s: accepted, marked for rehash, and padded alike', async (_name, stored) => {
    expect(await hasher.check(stored(), 'correct horse battery staple')).toEqual({ ok: true, needsRehash: true });
    expect(nativeVerifies()).toBe(1);
  });

  it('right password against a native hash: one verify, no rehash', async () => {
    expect(await hasher.check(native, 'correct horse battery staple')).toEqual({ ok: true, needsRehash: false });
    expect(verify).toHaveBeenCalledTimes(1);
  });
});

describe('PasswordHasher: hashes and checks at once, at most one per core', () => {
  const hasher = new PasswordHasher();
  const real = jest.requireActual<typeof import('@node-rs/argon2')>('@node-rs/argon2');

  beforeAll(() => hasher.onModuleInit());
  afterEach(() => verify.mockImplementation(real.verify));

  it('queues the rest and answers every one of them', async () => {
    const cores = availableParallelism();
    const stored = await hasher.hash('correct horse battery staple');
    let inFlight = 0;
    let most = 0;
    verify.mockImplementation(async (...args) => {
      most = Math.max(most, ++inFlight);
      try {
        return await real.verify(...args);
      } finally {
        inFlight -= 1;
      }
    });
    const passwords = Array.from({ length: 3 * cores + 1 }, (_, i) => (i % 2 ? 'correct horse battery staple' : `wrong ${i}`));
    const checks = await Promise.all([
      ...passwords.map((password) => hasher.check(stored, password)),
      hasher.check(undefined, 'no such user'),
    ]);
    expect(checks.map((c) => c.ok)).toEqual([...passwords.map((p) => p === 'correct horse battery staple'), false]);
    expect(most).toBe(cores);
  });
});
