import 'reflect-metadata';

import { ExecutionContextHost } from '@nestjs/core/internal';

import type { TokenSource } from './client-options.js';
import { cookieValue, findToken, passesCsrfCheck } from './token-sources.js';

function context(type: string, args: unknown[]): ExecutionContextHost {
  const host = new ExecutionContextHost(args);
  host.setType(type);
  return host;
}
const http = (headers: Record<string, string>, method = 'GET') => context('http', [{ headers, method }, {}]);

describe('cookieValue (no cookie-parser)', () => {
  it.each([
    ['gh_access=abc.def.ghi', 'abc.def.ghi'],
    ['theme=dark; gh_access=abc.def.ghi; gh_csrf=x', 'abc.def.ghi'],
    ['theme=dark;gh_access=abc', 'abc'],
    ['gh_access="quoted"', 'quoted'],
    ['gh_access=a%2Eb', 'a.b'],
    ['gh_access=%E0%A4%A', '%E0%A4%A'],
    ['gh_access=first; gh_access=second', 'first'],
    ['xgh_access=abc; gh_access_old=def', undefined],
    ['gh_access=', undefined],
    ['', undefined],
  ])('%j gives %j', (header, expected) => {
    expect(cookieValue(header, 'gh_access')).toBe(expected);
  });
});

describe('findToken', () => {
  const token = 'h.p.s';

  it('takes the bearer header by default, and only a well-formed one', () => {
    expect(findToken(http({ authorization: `Bearer ${token}` }), ['header'])).toEqual({ token, from: 'header' });
    expect(findToken(http({ authorization: `bearer ${token}` }), ['header'])).toEqual({ token, from: 'header' });
    expect(findToken(http({ authorization: `Basic ${token}` }), ['header'])).toEqual({ token: undefined });
    expect(findToken(http({ cookie: `gh_access=${token}` }), ['header'])).toEqual({ token: undefined });
  });

  it('tries the sources in order', () => {
    const both = http({ authorization: 'Bearer from-header', cookie: 'gh_access=from-cookie' });
    expect(findToken(both, ['header', 'cookie'])).toEqual({ token: 'from-header', from: 'header' });
    expect(findToken(both, ['cookie', 'header'])).toEqual({ token: 'from-cookie', from: 'cookie' });
    expect(findToken(http({ cookie: 'gh_access=from-cookie' }), ['header', 'cookie'])).toEqual({ token: 'from-cookie', from: 'cookie' });
  });

  it('asks a function, which gets the ExecutionContext', () => {
    const fn: TokenSource = (ctx) =>
      ctx.getType() === 'http' ? ctx.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-token'] : undefined;
    expect(findToken(http({ 'x-token': token }), [fn])).toEqual({ token, from: 'function' });
    expect(findToken(http({}), [fn, 'header'])).toEqual({ token: undefined });
  });

  it("takes the payload's accessToken over RPC and WebSocket, then the functions", () => {
    const fn: TokenSource = () => 'from-function';
    expect(findToken(context('rpc', [{ accessToken: token }, {}]), ['header'])).toEqual({ token, from: 'payload' });
    expect(findToken(context('ws', [{}, { accessToken: token }]), ['header'])).toEqual({ token, from: 'payload' });
    expect(findToken(context('rpc', [{}, {}]), ['header', 'cookie'])).toEqual({ token: undefined });
    expect(findToken(context('rpc', [{}, {}]), ['header', fn])).toEqual({ token: 'from-function', from: 'function' });
    expect(findToken(context('ws', [{}, 'not an object']), [])).toEqual({ token: undefined });
  });

  it("reads a GraphQL resolver's request (Apollo req, Mercurius reply.request), and none without one", () => {
    const req = { headers: { authorization: `Bearer ${token}` } };
    expect(findToken(context('graphql', [{}, {}, { req }, {}]), ['header'])).toEqual({ token, from: 'header' });
    expect(findToken(context('graphql', [{}, {}, { reply: { request: req } }, {}]), ['header'])).toEqual({ token, from: 'header' });
    expect(findToken(context('graphql', [{}, {}, {}, {}]), ['header', 'cookie'])).toEqual({ token: undefined });
    expect(findToken(context('graphql', [{}, {}]), ['header'])).toEqual({ token: undefined });
  });

  it('turns a failing function into a setup error naming the context type, never a TypeError', () => {
    const httpOnly: TokenSource = (ctx) => ctx.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers.authorization;
    let error: unknown;
    try {
      findToken(context('rpc', ['a string payload', {}]), [httpOnly]);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({
      name: 'AuthClientError',
      body: { statusCode: 500, code: 'INTERNAL_ERROR', message: expect.stringContaining("'rpc'") },
    });
  });
});

describe('passesCsrfCheck', () => {
  const req = (method: string, headers: Record<string, string>) => ({ method, headers });
  it('lets reads through, and writes only with X-CSRF-Token equal to the gh_csrf cookie', () => {
    expect(passesCsrfCheck(req('GET', { cookie: 'gh_access=t' }), 'http')).toBe(true);
    expect(passesCsrfCheck(req('HEAD', {}), 'http')).toBe(true);
    expect(passesCsrfCheck(req('POST', { cookie: 'gh_access=t; gh_csrf=abc' }), 'http')).toBe(false);
    expect(passesCsrfCheck(req('POST', { cookie: 'gh_access=t; gh_csrf=abc', 'x-csrf-token': 'abd' }), 'http')).toBe(false);
    expect(passesCsrfCheck(req('DELETE', { cookie: 'gh_access=t', 'x-csrf-token': '' }), 'http')).toBe(false);
    expect(passesCsrfCheck(req('POST', { cookie: 'gh_access=t; gh_csrf=abc', 'x-csrf-token': 'abc' }), 'http')).toBe(true);
  });

  it('treats every GraphQL request as a write', () => {
    expect(passesCsrfCheck(req('GET', { cookie: 'gh_csrf=abc' }), 'graphql')).toBe(false);
    expect(passesCsrfCheck(req('POST', { cookie: 'gh_csrf=abc', 'x-csrf-token': 'abc' }), 'graphql')).toBe(true);
    expect(passesCsrfCheck(undefined, 'graphql')).toBe(false);
  });
});
