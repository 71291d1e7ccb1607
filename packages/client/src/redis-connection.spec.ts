import { redisConnectionOptions } from './redis-connection.js';

describe('redisConnectionOptions', () => {
  it.each([
    ['redis://127.0.0.1:6380', { host: '127.0.0.1', port: 6380, db: 0 }],
    ['redis://cache.internal', { host: 'cache.internal', port: 6379, db: 0 }],
    ['redis://cache.internal/', { host: 'cache.internal', port: 6379, db: 0 }],
    ['redis://cache.internal:6379/7', { host: 'cache.internal', port: 6379, db: 7 }],
    ['redis://:secret@cache.internal', { host: 'cache.internal', port: 6379, db: 0, password: 'secret' }],
    ['redis://app:secret@cache.internal/2', { host: 'cache.internal', port: 6379, db: 2, username: 'app', password: 'secret' }],
    ['redis://app@cache.internal', { host: 'cache.internal', port: 6379, db: 0, username: 'app' }],
    ['redis://[::1]:6390/1', { host: '::1', port: 6390, db: 1 }],
  ])('%s', (url, expected) => {
    expect(redisConnectionOptions(url)).toEqual(expected);
  });

  it('percent-decodes the user name and password', () => {
    const password = 'p@ss:w/rd%+ #?é';
    const options = redisConnectionOptions(`redis://${encodeURIComponent('team:app')}:${encodeURIComponent(password)}@h/3`);
    expect(options).toMatchObject({ username: 'team:app', password, db: 3 });
  });

  it('turns TLS on for rediss://, with the TLS options given', () => {
    expect(redisConnectionOptions('rediss://:pw@cache.internal:6380/1')).toEqual({
      host: 'cache.internal',
      port: 6380,
      db: 1,
      password: 'pw',
      tls: {},
    });
    const tls = { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', servername: 'redis.internal', rejectUnauthorized: true };
    const options = redisConnectionOptions('rediss://u:pw@10.0.0.5:6380', tls);
    expect(options).toEqual({ host: '10.0.0.5', port: 6380, db: 0, username: 'u', password: 'pw', tls });
    expect(options.tls).not.toBe(tls); // a copy: ioredis may write to it
  });

  it('refuses TLS options with redis://, which would send the password in the clear', () => {
    expect(() => redisConnectionOptions('redis://:hunter2@h', { ca: 'CA PEM' })).toThrow(/use rediss:\/\//);
  });

  it.each([
    ['not a URL', 'not a valid URL'],
    ['http://:hunter2@h:6379', 'must start with redis:// or rediss://'],
    ['redis://:hunter2@h/db1', 'database index'],
    ['redis://:hunter2@h/-1', 'database index'],
    ['redis://:hunter2@h/1/2', 'database index'],
    ['redis://:hunter2@h/1.5', 'database index'],
    ['redis://:hunter%ZZ@h', 'password that is not correctly percent-encoded'],
    ['redis://us%E0er:hunter2@h', 'user name that is not correctly percent-encoded'],
    ['redis:///0', 'names no host'],
  ])('refuses %s without repeating the password', (url, message) => {
    let error: Error | undefined;
    try {
      redisConnectionOptions(url);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toContain(message);
    expect(error?.message).not.toContain('hunter');
  });
});
