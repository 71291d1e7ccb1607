import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

import { ConfigError, loadConfig, parseRedisUrl } from './app-config';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c.http).toEqual({ host: '0.0.0.0', port: 3000, trustProxy: false });
    expect(c.rpc).toEqual({ host: '127.0.0.1', port: 4000 });
    expect(c.redis).toBeUndefined();
    expect(c.database.url).toBeUndefined();
    expect(c.database.migrationsRun).toBe(true);
    expect(c.jwt).toMatchObject({ algorithm: 'ES256', issuer: 'http://localhost:3000', accessTokenTtl: 900 });
    expect(c.jwt.audience).toBeUndefined();
    expect(c.sessions).toEqual({ defaultTtl: 1209600, maxTtl: 7776000, refreshReuseInterval: 10 });
    expect(c.requireEmailVerification).toBe(true);
    expect(c.appUrl).toBe('http://localhost:3000');
  });

  it('reads values and converts types', () => {
    const c = loadConfig({
      PORT: '8080',
      TRUST_PROXY: 'true',
      REQUIRE_EMAIL_VERIFICATION: 'false',
      APP_URL: 'https://id.example.com/',
      JWT_AUDIENCE: 'api',
    });
    expect(c.http.port).toBe(8080);
    expect(c.http.trustProxy).toBe(1);
    expect(c.requireEmailVerification).toBe(false);
    expect(c.appUrl).toBe('https://id.example.com');
    expect(c.jwt.issuer).toBe('https://id.example.com');
    expect(c.jwt.audience).toBe('api');
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT must be a whole number from 0 to 65535 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^PORT /],
    [{ RPC_PORT: '-1' }, /^RPC_PORT /],
    [{ TRUST_PROXY: 'maybe' }, /^TRUST_PROXY must be false, true, a number of proxy hops, or proxy addresses/],
    [{ JWT_ALGORITHM: 'none' }, /^JWT_ALGORITHM must be one of ES256, RS256, HS256/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must be a postgres:\/\/ URL/],
    [{ REDIS_URL: 'http://x' }, /^REDIS_URL must be a redis:\/\//],
    [{ APP_URL: 'ftp://x' }, /^APP_URL must be an http\(s\):\/\/ URL/],
    [{ ACCESS_TOKEN_TTL: '1.5' }, /^ACCESS_TOKEN_TTL must be a whole number of seconds/],
    [{ SESSION_TTL: '100000', MAX_SESSION_TTL: '1000' }, /SESSION_TTL must not exceed MAX_SESSION_TTL/],
    [{ JWT_ALGORITHM: 'HS256' }, /^JWT_SECRET is required when JWT_ALGORITHM is HS256$/],
    [{ JWT_ALGORITHM: 'HS256', JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32 characters$/],
    [{ JWT_SECRET: 'x'.repeat(40) }, /^JWT_SECRET is for HS256/],
    [{ JWT_PRIVATE_KEY: 'not a pem' }, /^JWT_PRIVATE_KEY is not a readable PEM private key$/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ CORS_ORIGINS: 'https://ok.example.com, *' }, /^CORS_ORIGINS has "\*"/],
    [{ CORS_ORIGINS: 'null' }, /^CORS_ORIGINS has "null"/],
    [{ CORS_ORIGINS: 'https://app.example.com/path' }, /^CORS_ORIGINS has/],
    [{ LOCKOUT_THRESHOLD: '0' }, /^LOCKOUT_THRESHOLD must be a whole number/],
    [
      { RPC_TLS_CERT: '-----BEGIN CERTIFICATE-----x', RPC_TLS_KEY: '-----BEGIN PRIVATE KEY-----x' },
      /^RPC_TLS_CERT, RPC_TLS_KEY and RPC_TLS_CA go together/,
    ],
    [
      { RPC_TLS_CERT: '/no/such/file.pem', RPC_TLS_KEY: '/no/such/key.pem', RPC_TLS_CA: '/no/such/ca.pem' },
      /^RPC_TLS_CERT is neither PEM text nor a readable PEM file$/,
    ],
  ])('refuses %j with one line naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('never echoes a secret or key in its error', () => {
    const secret = 'tooshort-secret-value';
    expect(() => loadConfig({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret })).toThrow(ConfigError);
    try {
      loadConfig({ JWT_ALGORITHM: 'HS256', JWT_SECRET: secret });
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
  });

  it('reads TRUST_PROXY as hops or proxy addresses, never as "trust the client"', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).http.trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(loadConfig({ CORS_ORIGINS: 'https://App.Example.com:443' }).corsOrigins).toEqual(['https://app.example.com']);
  });

  it('refuses a placeholder secret in production only', () => {
    const env = { JWT_ALGORITHM: 'HS256', JWT_SECRET: 'changeme-changeme-changeme-changeme' };
    expect(loadConfig(env).jwt.secret).toBeDefined();
    expect(() => loadConfig({ ...env, NODE_ENV: 'production' })).toThrow(/placeholder/);
  });

  describe('MFA_ENCRYPTION_KEY', () => {
    const key = randomBytes(32);

    it('is unset by default (a key is then generated and kept in the database)', () => {
      expect(loadConfig({}).mfa.encryptionKey).toBeUndefined();
    });

    it('takes 32 bytes in standard or URL-safe base64, as a key object that never prints its bytes', () => {
      for (const text of [key.toString('base64'), key.toString('base64url')]) {
        const loaded = loadConfig({ MFA_ENCRYPTION_KEY: text, NODE_ENV: 'production' }).mfa.encryptionKey;
        expect(loaded?.export().equals(key)).toBe(true);
        expect(inspect(loaded)).not.toContain(key.toString('hex').slice(0, 8));
        expect(JSON.stringify(loaded)).not.toContain(text);
      }
    });

    it.each([
      ['too short', randomBytes(16).toString('base64')],
      ['too long', randomBytes(33).toString('base64')],
      ['not base64', '*'.repeat(44)],
      ['hex', randomBytes(32).toString('hex')],
      ['with a space inside', `${key.toString('base64').slice(0, 20)} ${key.toString('base64').slice(20)}`],
    ])('refuses a malformed key (%s) without echoing it', (_, value) => {
      expect(() => loadConfig({ MFA_ENCRYPTION_KEY: value })).toThrow(/^MFA_ENCRYPTION_KEY must be 32 bytes in base64/);
      try {
        loadConfig({ MFA_ENCRYPTION_KEY: value });
      } catch (error) {
        expect((error as Error).message).not.toContain(value);
      }
    });

    it.each([
      ['placeholder words', Buffer.from('change-me-change-me-change-me-32').toString('base64')],
      ['a typed phrase', Buffer.from('correct horse battery staple 123').toString('base64')],
      ['all zeros', Buffer.alloc(32).toString('base64')],
    ])('refuses a placeholder-looking key (%s) in production only', (_, value) => {
      expect(loadConfig({ MFA_ENCRYPTION_KEY: value }).mfa.encryptionKey).toBeDefined();
      expect(() => loadConfig({ MFA_ENCRYPTION_KEY: value, NODE_ENV: 'production' })).toThrow(
        /^MFA_ENCRYPTION_KEY looks like a placeholder/,
      );
    });
  });

  it('accepts a PEM key of the right kind, with escaped newlines, and refuses the wrong kind', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(loadConfig({ JWT_PRIVATE_KEY: ec.replace(/\n/g, '\\n') }).jwt.privateKey?.asymmetricKeyType).toBe('ec');
    expect(loadConfig({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: rsa }).jwt.privateKey?.asymmetricKeyType).toBe('rsa');
    expect(() => loadConfig({ JWT_PRIVATE_KEY: rsa })).toThrow(/EC P-256/);
    expect(() => loadConfig({ JWT_ALGORITHM: 'RS256', JWT_PRIVATE_KEY: ec })).toThrow(/RSA/);
  });
});

describe('parseRedisUrl', () => {
  it('honours host, port, credentials, database index and TLS', () => {
    expect(parseRedisUrl('rediss://user:p%40ss@cache.internal:6380/3')).toEqual({
      url: 'rediss://user:p%40ss@cache.internal:6380/3',
      host: 'cache.internal',
      port: 6380,
      db: 3,
      username: 'user',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis://127.0.0.1')).toMatchObject({ port: 6379, db: 0, tls: false });
    expect(() => parseRedisUrl('redis://h/x')).toThrow(/database index/);
  });
});
