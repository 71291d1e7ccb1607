import { randomBytes } from 'node:crypto';

import type { Transactions } from '../../src/platform/database/transactions';
import type { GeneratedAlgorithm, NewSigningKey, SigningKeysRepository } from '../../src/tokens/signing-keys.repository';

export interface SigningKeysRepositoryHarness {
  repository: SigningKeysRepository;
  transactions: { run: Transactions['run'] };
  /** Forgets every key. */
  reset(): Promise<void>;
}

/** Key material is opaque to the repository: these stand-ins are not real PEM. */
export function newKey(algorithm: GeneratedAlgorithm = 'ES256'): NewSigningKey {
  const kid = randomBytes(8).toString('hex');
  return { kid, algorithm, privateKey: `private-${kid}`, publicKey: `public-${kid}` };
}

/**
 * What every SigningKeysRepository must do. Behaviour only PostgreSQL can show (NOTIFY, a rotation
 * rolled back whole) is in the integration spec.
 */
export function describeSigningKeysRepository(setup: () => Promise<SigningKeysRepositoryHarness>): void {
  let h: SigningKeysRepositoryHarness;
  let repository: SigningKeysRepository;

  beforeAll(async () => {
    h = await setup();
  });
  beforeEach(async () => {
    await h.reset();
    // A reset may hand over a new instance.
    repository = h.repository;
  });

  it('has no current key until one is stored, then gives it with its private key', async () => {
    expect(await repository.findCurrent('ES256')).toBeNull();
    expect(await repository.findLive()).toEqual([]);
    const key = newKey('ES256');
    expect(await repository.insertCurrentIfNone(key)).toBe(true);
    expect(await repository.findCurrent('ES256')).toEqual({ kid: key.kid, algorithm: 'ES256', privateKey: key.privateKey });
    expect(await repository.findCurrent('RS256')).toBeNull();
    expect(await repository.findLive()).toEqual([{ kid: key.kid, algorithm: 'ES256', publicKey: key.publicKey }]);
  });

  it('stores one current key per algorithm when several instances race to create it', async () => {
    const keys = [newKey('ES256'), newKey('ES256'), newKey('ES256'), newKey('RS256')];
    const stored = await Promise.all(keys.map((key) => repository.insertCurrentIfNone(key)));
    expect(stored.slice(0, 3).filter(Boolean)).toHaveLength(1);
    expect(stored[3]).toBe(true);
    const winner = keys[stored.indexOf(true)];
    expect(await repository.findCurrent('ES256')).toMatchObject({ kid: winner.kid });
    expect(await repository.findCurrent('RS256')).toMatchObject({ kid: keys[3].kid });
    expect(await repository.insertCurrentIfNone(newKey('ES256'))).toBe(false);
    expect((await repository.findLive()).map((k) => k.kid).sort()).toEqual([winner.kid, keys[3].kid].sort());
  });

  it('rotates: the new key signs, the previous ones keep verifying, newest first', async () => {
    expect(await repository.rotate(newKey('ES256')).then((r) => r.previous)).toEqual([]);
    const first = (await repository.findCurrent('ES256'))!;
    const other = newKey('RS256');
    await repository.insertCurrentIfNone(other);
    const second = newKey('ES256');
    expect(await repository.rotate(second)).toEqual({ previous: [first.kid] });
    expect(await repository.findCurrent('ES256')).toEqual({ kid: second.kid, algorithm: 'ES256', privateKey: second.privateKey });
    expect(await repository.findCurrent('RS256')).toMatchObject({ kid: other.kid });
    expect((await repository.findLive()).map((k) => k.kid)).toEqual([second.kid, other.kid, first.kid]);
  });

  it('retires superseded keys once old enough, or a named one at once, never a current one', async () => {
    const first = newKey('ES256');
    const second = newKey('ES256');
    const third = newKey('ES256');
    await repository.rotate(first);
    await repository.rotate(second);
    await repository.rotate(third);

    expect(await repository.retire({ minAgeSeconds: 3600 })).toEqual([]);
    expect(await repository.retire({ minAgeSeconds: 3600, kid: third.kid })).toEqual([]);
    expect(await repository.retire({ minAgeSeconds: 3600, kid: 'unknown' })).toEqual([]);
    expect(await repository.retire({ minAgeSeconds: 3600, kid: second.kid })).toEqual([second.kid]);
    expect((await repository.findLive()).map((k) => k.kid)).toEqual([third.kid, first.kid]);

    expect(await repository.retire({ minAgeSeconds: 0 })).toEqual([first.kid]);
    expect(await repository.retire({ minAgeSeconds: 0 })).toEqual([]);
    expect((await repository.findLive()).map((k) => k.kid)).toEqual([third.kid]);
    expect(await repository.findCurrent('ES256')).toMatchObject({ kid: third.kid });
  });
}
