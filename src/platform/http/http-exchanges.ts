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

interface ExchangeSlots {
  [REPORTED]: boolean;
}

const observersOf = new WeakMap<FastifyInstance, HttpExchangeObserver[]>();

/**
 * Calls the observer exactly once per HTTP request: when its response has been sent (Fastify's
 * onResponse: 404s, body-limit and guard refusals included), or when its client left before that
 * (the response closed unfinished, where onResponse never runs), or for a URL the router refused
 * (see reportHttpExchange). Callback-style hooks: an async hook costs a promise per request.
 */
export function observeHttpExchanges(fastify: FastifyInstance, observer: HttpExchangeObserver): void {
  let observers = observersOf.get(fastify);
  if (!observers) {
    observers = [];
    observersOf.set(fastify, observers);
    installHooks(fastify, observers);
  }
  observers.push(observer);
}

/** Reports a request answered outside the routes' hooks (the router's refusals) once it is sent. */
export function reportHttpExchange(request: FastifyRequest, reply: FastifyReply): void {
  const observers = observersOf.get(request.server);
  if (observers) report(observers, request, reply.statusCode, reply.elapsedTime, false);
}

function installHooks(fastify: FastifyInstance, observers: HttpExchangeObserver[]): void {
  fastify.decorateRequest(REPORTED, false);
  fastify.addHook('onRequest', (request, reply, done) => {
    // A response closed before it finished: its client left (Fastify's onRequestAbort only sees
    // those that left before their body was complete).
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) report(observers, request, CLIENT_CLOSED_REQUEST, reply.elapsedTime, true);
    });
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    report(observers, request, reply.statusCode, reply.elapsedTime, false);
    done();
  });
}

function report(observers: HttpExchangeObserver[], request: FastifyRequest, statusCode: number, elapsedMs: number, aborted: boolean): void {
  const slots = request as unknown as ExchangeSlots;
  if (slots[REPORTED]) return;
  slots[REPORTED] = true;
  for (const observe of observers) observe({ request, statusCode, elapsedMs, aborted });
}

/** The header that carries a request's id in (when sent) and out. */
export const REQUEST_ID_HEADER = 'x-request-id';
