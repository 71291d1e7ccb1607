import 'reflect-metadata';

import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { AuthClientModule } from './auth-client.module.js';
import { checkOptions, type AuthClientOptions } from './client-options.js';
import { TokenVerifier } from './token-verifier.js';

describe('checkOptions: a mis-set client stops at start with one line', () => {
  it.each([
    ['no issuer', { jwksUrl: 'https://g/.well-known/jwks.json' }, /issuer is required/],
    ['no jwksUrl outside live mode', { issuer: 'https://g' }, /jwksUrl is required unless live mode is configured/],
    [
      'an unknown token source',
      { issuer: 'https://g', jwksUrl: 'https://g/jwks', tokenFrom: 'query' },
      /tokenFrom takes 'header', 'cookie' or a function \(got "query"\)/,
    ],
    ['an empty token source list', { issuer: 'https://g', jwksUrl: 'https://g/jwks', tokenFrom: [] }, /tokenFrom is an empty list/],
  ])('refuses %s', (_case, options, message) => {
    expect(() => checkOptions(options as unknown as AuthClientOptions)).toThrow(message);
  });

  it('accepts live mode without jwksUrl, and every kind of token source', () => {
    expect(() => checkOptions({ issuer: 'https://g', live: { transport: 'tcp', host: '127.0.0.1', port: 1 } })).not.toThrow();
    expect(() =>
      checkOptions({ issuer: 'https://g', jwksUrl: 'https://g/jwks', tokenFrom: ['header', 'cookie', () => undefined] }),
    ).not.toThrow();
  });
});

describe('AuthClientModule options at start', () => {
  beforeAll(() => jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());

  it('refuses to start without jwksUrl outside live mode, through forRoot and forRootAsync', async () => {
    const options = { issuer: 'https://g' } as AuthClientOptions;
    for (const module of [AuthClientModule.forRoot(options), AuthClientModule.forRootAsync({ useFactory: () => options })]) {
      await expect(Test.createTestingModule({ imports: [module] }).compile()).rejects.toThrow(/jwksUrl is required unless live mode/);
    }
  });

  it('starts in live mode without jwksUrl and fetches no key set', async () => {
    const fetchSpy = jest.spyOn(globalThis, 'fetch');
    const moduleRef = await Test.createTestingModule({
      imports: [AuthClientModule.forRoot({ issuer: 'https://g', live: { transport: 'tcp', host: '127.0.0.1', port: 9, timeoutMs: 500 } })],
    }).compile();
    await moduleRef.init();
    try {
      expect(moduleRef.get(TokenVerifier)).toBeInstanceOf(TokenVerifier);
      expect(fetchSpy).not.toHaveBeenCalled();
    } finally {
      await moduleRef.close();
      fetchSpy.mockRestore();
    }
  });
});
