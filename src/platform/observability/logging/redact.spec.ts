import { loadConfig } from '../../config/app-config';
import { loggerParams } from './logging.module';
import { redactText, redactUrl } from './redact';

describe('redactText', () => {
  it('blanks token-bearing link parameters and keeps the rest of the link', () => {
    expect(redactText('reset at https://app.example/reset-password?token=abc.DEF-123&lang=en now')).toBe(
      'reset at https://app.example/reset-password?token=[redacted]&lang=en now',
    );
    expect(redactUrl('/cb?code=xyz&state=1#access_token=secret')).toBe('/cb?code=[redacted]&state=1#access_token=[redacted]');
  });

  it('blanks parameters named like the secrets of the API and of other services, whatever their case', () => {
    expect(redactUrl('/auth/refresh?refreshToken=opaque-R1&lang=en')).toBe('/auth/refresh?refreshToken=[redacted]&lang=en');
    expect(redactUrl('/auth/password/change?currentPassword=old-1&newPassword=new-2')).toBe(
      '/auth/password/change?currentPassword=[redacted]&newPassword=[redacted]',
    );
    expect(redactUrl('/x?accessToken=a&csrfToken=b&client_secret=c&apiKey=d&X-Amz-Signature=e&passwd=f')).toBe(
      '/x?accessToken=[redacted]&csrfToken=[redacted]&client_secret=[redacted]&apiKey=[redacted]&X-Amz-Signature=[redacted]&passwd=[redacted]',
    );
    expect(redactUrl('/x?user[password]=g&user%5Btoken%5D=h')).toBe('/x?user[password]=[redacted]&user%5Btoken%5D=[redacted]');
    expect(redactUrl('/users?email=ada%40example.com&limit=10&cursor=abc')).toBe('/users?email=ada%40example.com&limit=10&cursor=abc');
  });

  it('blanks bearer and basic credentials, JWTs and passwords in connection URLs', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl';
    expect(redactText(`Authorization: Bearer ${jwt}`)).toBe('Authorization: Bearer [redacted]');
    expect(redactText('Basic dXNlcjpwYXNz')).toBe('Basic [redacted]');
    expect(redactText(`token was ${jwt}.`)).toBe('token was [redacted].');
    expect(redactText('connect postgres://gate:s3cr3t@db:5432/gatehouse failed')).toBe(
      'connect postgres://gate:[redacted]@db:5432/gatehouse failed',
    );
    expect(redactText('redis://:hunter2@cache:6379/0')).toBe('redis://:[redacted]@cache:6379/0');
  });

  it('leaves ordinary text alone', () => {
    const text = 'mail 42 to ada@example.com sent after 2 attempts (https://app.example/login)';
    expect(redactText(text)).toBe(text);
  });
});

describe('loggerParams', () => {
  const levelOf = (LOG_LEVEL: string) => {
    const params = loggerParams(loadConfig({ LOG_LEVEL, NODE_ENV: 'test' }));
    const [options] = params.pinoHttp as [{ level: string }, unknown];
    return options.level;
  };

  it('takes the level from LOG_LEVEL, verbose being pino trace', () => {
    expect(levelOf('warn')).toBe('warn');
    expect(levelOf('debug')).toBe('debug');
    expect(levelOf('verbose')).toBe('trace');
  });
});
