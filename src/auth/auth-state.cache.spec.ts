import type { RevocationFeed } from '../sessions/revocation-feed.service';
import type { AuthContext } from '../shared/access/auth-context';
import { AUTH_STATE_TTL_MS, AuthStateCache } from './auth-state.cache';

function context(sessionId: string, userId = 'u1'): Omit<AuthContext, 'claims'> {
  return {
    userId,
    sessionId,
    roles: ['user'],
    isImpersonated: false,
    impersonatorId: null,
    user: {
      id: userId,
      email: 'a@example.com',
      username: null,
      displayName: null,
      mfaEnabled: false,
      emailVerified: true,
      roles: ['user'],
      deactivated: false,
      createdAt: '',
      updatedAt: '',
    },
  };
}

describe('AuthStateCache', () => {
  const far = new Date(Date.now() + 3600_000);
  let cache: AuthStateCache;
  let feed: { generation: number | undefined };
  beforeEach(() => {
    feed = { generation: 1 };
    cache = new AuthStateCache(feed as RevocationFeed);
  });

  it('stores nothing while the revocation feed is down', () => {
    feed.generation = undefined;
    cache.set(context('s1'), far, cache.snapshot());
    feed.generation = 1;
    expect(cache.get('s1')).toBeUndefined();
  });

  it('serves nothing while the feed is down, nor after it reconnects', () => {
    cache.set(context('s1'), far, cache.snapshot());
    expect(cache.get('s1')).toBeDefined();
    feed.generation = undefined;
    expect(cache.get('s1')).toBeUndefined();
    cache.set(context('s2'), far, cache.snapshot());
    feed.generation = 2;
    expect(cache.get('s2')).toBeUndefined();
  });

  it('returns a stored entry until the TTL or the session end, whichever is first', () => {
    const now = 1_000_000;
    cache.set(context('s1'), new Date(now + 5_000), cache.snapshot(), now);
    expect(cache.get('s1', now + 4_999)?.sessionId).toBe('s1');
    expect(cache.get('s1', now + 5_000)).toBeUndefined();
    cache.set(context('s2'), far, cache.snapshot(), now);
    expect(cache.get('s2', now + AUTH_STATE_TTL_MS - 1)).toBeDefined();
    expect(cache.get('s2', now + AUTH_STATE_TTL_MS)).toBeUndefined();
  });

  it('forgets a revoked session and all sessions of a changed user', () => {
    cache.set(context('s1', 'u1'), far, cache.snapshot());
    cache.set(context('s2', 'u1'), far, cache.snapshot());
    cache.set(context('s3', 'u2'), far, cache.snapshot());
    cache.invalidateSession('s1');
    expect(cache.get('s1')).toBeUndefined();
    cache.invalidateUser('u1');
    expect(cache.get('s2')).toBeUndefined();
    expect(cache.get('s3')).toBeDefined();
  });

  it('refuses state read before a gap in the feed, even once it has reconnected', () => {
    const before = cache.snapshot(); // generation 1
    feed.generation = undefined; // the listener drops: a revocation's notification may be lost
    feed.generation = 2; // and reconnects before the read completes
    cache.set(context('s1'), far, before);
    expect(cache.get('s1')).toBeUndefined();
  });

  it('refuses state read before an invalidation (a read racing a revocation)', () => {
    const before = cache.snapshot();
    cache.invalidateSession('s1'); // the revocation lands while the read is in flight
    cache.set(context('s1'), far, before);
    expect(cache.get('s1')).toBeUndefined();
  });
});
