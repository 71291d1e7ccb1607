import { timingSafeEqual } from 'node:crypto';
import type { ExecutionContext } from '@nestjs/common';

import type { TokenSource } from './client-options.js';
import { setupError } from './refusals.js';

export const ACCESS_COOKIE = 'gh_access';
const CSRF_COOKIE = 'gh_csrf';
const CSRF_HEADER = 'x-csrf-token';

/** The parts of an HTTP request (Fastify, Express, or GraphQL's) the guard reads. */
export interface HttpRequestLike {
  headers?: Record<string, string | string[] | undefined>;
  method?: string;
  user?: unknown;
}

export interface FoundToken {
  token: string | undefined;
  /** Where it came from: a token from the cookie must pass the CSRF check on writes. */
  from?: 'header' | 'cookie' | 'payload' | 'function';
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * The HTTP request behind a handler: the request over HTTP, and over GraphQL the one in the
 * resolver's context (`args[2]`: `req` with Apollo, `request` or `reply.request` with Mercurius),
 * read without depending on @nestjs/graphql. Undefined elsewhere, or when a GraphQL context has
 * none (a subscription over WebSocket).
 */
export function httpRequestOf(context: ExecutionContext): HttpRequestLike | undefined {
  const type = context.getType<string>();
  if (type === 'http') {
    const request: unknown = context.switchToHttp().getRequest();
    return isObject(request) ? request : undefined;
  }
  if (type === 'graphql') {
    const gql: unknown = context.getArgs()[2];
    if (!isObject(gql)) return undefined;
    const reply = gql.reply;
    const request = gql.req ?? gql.request ?? (isObject(reply) ? reply.request : undefined);
    return isObject(request) ? request : undefined;
  }
  return undefined;
}

function header(request: HttpRequestLike, name: string): string | undefined {
  const value = request.headers?.[name];
  return typeof value === 'string' ? value : undefined;
}

function bearer(request: HttpRequestLike): string | undefined {
  const value = header(request, 'authorization');
  const match = value ? /^Bearer\s+(\S+)$/i.exec(value) : null;
  return match?.[1];
}

/** One cookie of a Cookie header (the first of that name), percent-decoded; no cookie-parser needed. */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  for (const pair of cookieHeader.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all: keep it as sent (a bad token is refused by the verifier).
    }
    return value || undefined;
  }
  return undefined;
}

function payloadToken(context: ExecutionContext, type: string): string | undefined {
  const data: unknown = type === 'rpc' ? context.switchToRpc().getData() : context.switchToWs().getData();
  const token = isObject(data) ? data.accessToken : undefined;
  return typeof token === 'string' && token ? token : undefined;
}

function ask(
  source: (context: ExecutionContext) => string | null | undefined,
  context: ExecutionContext,
  type: string,
): string | undefined {
  let token: unknown;
  try {
    token = source(context);
  } catch (error) {
    throw setupError(`the tokenFrom function failed in a '${type}' context: ${error instanceof Error ? error.message : String(error)}`);
  }
  return typeof token === 'string' && token ? token : undefined;
}

/**
 * The access token of a handler's request or message. HTTP and GraphQL: the sources in order.
 * Message patterns and WebSocket messages: the payload's `accessToken`, then the functions.
 */
export function findToken(context: ExecutionContext, sources: readonly TokenSource[]): FoundToken {
  const type = context.getType<string>();
  if (type === 'rpc' || type === 'ws') {
    const token = payloadToken(context, type);
    if (token) return { token, from: 'payload' };
    for (const source of sources) {
      if (typeof source !== 'function') continue;
      const found = ask(source, context, type);
      if (found) return { token: found, from: 'function' };
    }
    return { token: undefined };
  }
  const request = httpRequestOf(context);
  for (const source of sources) {
    if (typeof source === 'function') {
      const found = ask(source, context, type);
      if (found) return { token: found, from: 'function' };
    } else if (request) {
      const found = source === 'header' ? bearer(request) : cookieValue(header(request, 'cookie'), ACCESS_COOKIE);
      if (found) return { token: found, from: source };
    }
  }
  return { token: undefined };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Double-submit CSRF check for a request authenticated by the gh_access cookie, as gatehouse does
 * it: a write must carry X-CSRF-Token equal to the gh_csrf cookie (another site can make a browser
 * send the cookies, but can neither read them nor set the header). GraphQL requests are POSTs.
 */
export function passesCsrfCheck(request: HttpRequestLike | undefined, type: string): boolean {
  const method = (request?.method ?? (type === 'graphql' ? 'POST' : 'GET')).toUpperCase();
  if (type !== 'graphql' && SAFE_METHODS.has(method)) return true;
  if (!request) return false;
  const sent = header(request, CSRF_HEADER);
  const expected = cookieValue(header(request, 'cookie'), CSRF_COOKIE);
  if (!sent || !expected) return false;
  const [a, b] = [Buffer.from(sent), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}
