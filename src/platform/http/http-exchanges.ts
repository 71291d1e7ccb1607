import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The status reported for a request its client gave up on before the answer was sent (nginx's
 * "client closed request"): a load balancer timing out, a browser navigating away, a body never
 * finished. Nothing is sent with it; it only names the case in the request line and the metrics.
 */
export const CLIENT_CLOSED_REQUEST = 499;

/** How one HTTP request ended. */
export interface HttpExchange {
  request: FastifyRequest;
  /** The status sent, or CLIENT_CLOSED_REQUEST. */
  statusCode: number;
  /** From the request's arrival to its answer (or to the client leaving), in milliseconds. */
  elapsedMs: number;
  aborted: boolean;
}

export type HttpExchangeObserver = (exchange: HttpExchange) => void;

const REPORTED = Symbol('gatehouse.reported');
const END_WORK = Symbol('gatehouse.endWork');
const REPLY = Symbol('gatehouse.reply');

interface ExchangeSlots {
  [REPORTED]: boolean;
  [END_WORK]: (() => void) | null;
}

/** Counts one request in flight; the function it returns is called once the response has closed. */
export type HttpWorkTracker = () => () => void;

interface Exchanges {
  observers: HttpExchangeObserver[];
  tracker?: HttpWorkTracker;
}

const exchangesOf = new WeakMap<FastifyInstance, Exchanges>();

/**
 * Calls the observer exactly once per HTTP request: when its response has been sent (Fastify's
 * onResponse: 404s, body-limit and guard refusals included), or when its client left before that
 * (the response closed unfinished, where onResponse never runs), or for a URL the router refused
 * (see reportHttpExchange).
 */
export function observeHttpExchanges(fastify: FastifyInstance, observer: HttpExchangeObserver): void {
  exchangesFor(fastify).observers.push(observer);
}

/**
 * Counts every HTTP request from its arrival until its response closes (sent, or its client gone):
 * what a graceful shutdown waits for. One tracker per instance; it shares the exchanges' hooks.
 */
export function trackHttpWork(fastify: FastifyInstance, tracker: HttpWorkTracker): void {
  exchangesFor(fastify).tracker = tracker;
}

/** Reports a request answered outside the routes' hooks (the router's refusals) once it is sent. */
export function reportHttpExchange(request: FastifyRequest, reply: FastifyReply): void {
  const exchanges = exchangesOf.get(request.server);
  if (exchanges) report(exchanges.observers, request, reply.statusCode, reply.elapsedTime, false);
}

function exchangesFor(fastify: FastifyInstance): Exchanges {
  let exchanges = exchangesOf.get(fastify);
  if (!exchanges) {
    exchanges = { observers: [] };
    exchangesOf.set(fastify, exchanges);
    installHooks(fastify, exchanges);
  }
  return exchanges;
}

/**
 * One onRequest and one onResponse hook, callback style (an async hook costs a promise per
 * request), and one shared 'close' listener that finds its reply on the response: no closure is
 * allocated per request.
 */
function installHooks(fastify: FastifyInstance, exchanges: Exchanges): void {
  fastify.decorateRequest(REPORTED, false);
  fastify.decorateRequest(END_WORK, null);
  fastify.addHook('onRequest', (request, reply, done) => {
    if (exchanges.tracker) (request as unknown as ExchangeSlots)[END_WORK] = exchanges.tracker();
    const raw = reply.raw as ServerResponse & { [REPLY]?: FastifyReply };
    raw[REPLY] = reply;
    raw.on('close', onResponseClosed);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    report(exchanges.observers, request, reply.statusCode, reply.elapsedTime, false);
    done();
  });

  // A response emits 'close' once it is sent, or when its client went away first. Closed before it
  // finished, its client left (Fastify's onRequestAbort only sees those that left before their body
  // was complete).
  function onResponseClosed(this: ServerResponse & { [REPLY]?: FastifyReply }): void {
    const reply = this[REPLY];
    if (!reply) return;
    this[REPLY] = undefined;
    const request = reply.request;
    if (!this.writableFinished) report(exchanges.observers, request, CLIENT_CLOSED_REQUEST, reply.elapsedTime, true);
    const slots = request as unknown as ExchangeSlots;
    const end = slots[END_WORK];
    if (end) {
      slots[END_WORK] = null;
      end();
    }
  }
}

function report(observers: HttpExchangeObserver[], request: FastifyRequest, statusCode: number, elapsedMs: number, aborted: boolean): void {
  const slots = request as unknown as ExchangeSlots;
  if (slots[REPORTED]) return;
  slots[REPORTED] = true;
  for (const observe of observers) observe({ request, statusCode, elapsedMs, aborted });
}

/** The header that carries a request's id in (when sent) and out. */
export const REQUEST_ID_HEADER = 'x-request-id';
