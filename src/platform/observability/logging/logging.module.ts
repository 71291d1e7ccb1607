import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable, Module, OnModuleInit, type LoggerService } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Logger, PinoLogger, type Params } from 'nestjs-pino';
import pino, { type DestinationStream, type Level, type LoggerOptions } from 'pino';

import { ErrorCode } from '../../../shared/errors/app-error.js';
import { APP_CONFIG, type AppConfig } from '../../config/app-config.js';
import type { LogLevel } from '../../config/env.schema.js';
import { GATEHOUSE_OPTIONS, type GatehouseOptions } from '../../config/gatehouse-options.js';
import { observeHttpExchanges, REQUEST_ID_HEADER } from '../../http/http-exchanges.js';
import type { MessageObserver } from '../../rpc/observed-handlers.js';
import { REDACT_PATHS, REDACTED, redactText, redactUrl } from './redact.js';

const PINO_LEVELS: Record<LogLevel, Level> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  verbose: 'trace',
};

// A caller's id is kept when it is a plausible correlation id; anything else is replaced.
const VALID_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

// Probes and scrapes arrive every few seconds from every load balancer and Prometheus: one line
// each at info would drown the rest, so they log at debug unless they fail.
const QUIET_PATHS = /^\/(health\/(live|ready)|metrics)(\?|$)/;

/**
 * The id of an HTTP request: the caller's X-Request-Id when it is a plausible correlation id,
 * otherwise a new UUID. Fastify calls this once per request (FastifyAdapter's genReqId); pino-http
 * picks the id up from there, and the response headers (common/http-headers.ts) send it back.
 */
export function requestId(req: IncomingMessage): string {
  const inbound = req.headers[REQUEST_ID_HEADER];
  return typeof inbound === 'string' && VALID_REQUEST_ID.test(inbound) ? inbound : randomUUID();
}

interface SerializedRequest {
  id?: unknown;
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  remoteAddress?: string;
  raw?: { ip?: string };
}

interface SerializedError {
  type?: string;
  message?: string;
  stack?: string;
  [key: string]: unknown;
}

/**
 * The options of the one pino logger the service logs through: JSON lines on stdout, one line per
 * HTTP request (with its id, also sent back as X-Request-Id) and per message-pattern call, secrets
 * blanked by field (REDACT_PATHS) and in free text (redactText), level from LOG_LEVEL.
 */
export function loggerParams(config: AppConfig, destination?: DestinationStream): Params {
  const options: LoggerOptions = {
    level: PINO_LEVELS[config.logLevel],
    base: { service: 'gatehouse', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    hooks: {
      // Free text passed to the logger (messages and their printf arguments) is scrubbed too.
      logMethod(args, method) {
        const cleaned = args.map((arg: unknown) => (typeof arg === 'string' ? redactText(arg) : arg)) as Parameters<typeof method>;
        method.apply(this, cleaned);
      },
    },
    formatters: {
      log(object) {
        return typeof object.msg === 'string' ? { ...object, msg: redactText(object.msg) } : object;
      },
    },
    serializers: {
      // pino-http's wrapper hands this the standard request summary, with what was logged as `raw`.
      req: (req: SerializedRequest) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
        ip: req.raw?.ip ?? req.remoteAddress,
        userAgent: typeof req.headers?.['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : undefined,
      }),
      // pino-http's wrapper blanks the status of a response whose headers are not sent; the request
      // line passes the status it reports (499 for a client that left) as `raw`.
      res: (res: { statusCode?: number | null; raw?: { statusCode?: number } }) => ({ statusCode: res.raw?.statusCode ?? res.statusCode }),
      err: (err: Error | SerializedError) => {
        // pino-http's wrapper has serialized it already: serialized again, every error's type read "Object".
        const serialized = (err instanceof Error ? pino.stdSerializers.err(err) : err) as SerializedError;
        return {
          type: serialized.type,
          message: serialized.message === undefined ? undefined : redactText(serialized.message),
          stack: serialized.stack === undefined ? undefined : redactText(serialized.stack),
        };
      },
    },
  };
  return { pinoHttp: [options, destination ?? pino.destination({ dest: 1, sync: true })] };
}

/**
 * The JSON logger as a Nest LoggerService, for NestFactory.create: the lines Nest writes while it
 * builds the app, and the error that stops a start (Nest's ExceptionHandler writes it, then exits),
 * go out as JSON at LOG_LEVEL through the same pino logger the module provides, with the err
 * serializer's redaction, instead of Nest's console format with the whole error object (a failed
 * query's SQL and parameters included).
 */
export function createJsonLogger(config: AppConfig, destination?: DestinationStream): LoggerService {
  const params = loggerParams(config, destination);
  return new Logger(new PinoLogger(params), params);
}

/**
 * One line per message-pattern request, like the HTTP ones: pattern, transport, outcome (the error
 * code its caller received) and time. Fed by the handler wrapper (observeMessageHandlers) rather than
 * a per-message async context, which would slow every request of the process.
 */
export function rpcRequestLog(): MessageObserver {
  return ({ pattern, transport, outcome, seconds }) => {
    const logger = PinoLogger.root;
    const level = outcome === String(ErrorCode.INTERNAL_ERROR) ? 'error' : 'info';
    if (!logger?.isLevelEnabled(level)) return;
    logger[level](
      { rpc: { pattern, transport }, outcome, responseTime: Math.round(seconds * 10_000) / 10 },
      `${pattern} ${outcome === 'ok' ? 'completed' : 'failed'}`,
    );
  };
}

/**
 * One line per HTTP request, written when its response is sent (404s, 413s and guard refusals
 * included), when its client leaves before that (status 499, `aborted: true`), or when the router
 * refuses its URL. There is deliberately no per-request async context: AsyncLocalStorage on Node 20
 * slows every request of the process (measured: a third of a cheap route's throughput); the one log
 * made inside a request, an unexpected error, carries the request id explicitly (see the error filter).
 */
@Injectable()
export class HttpRequestLogging implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify || typeof fastify.addHook !== 'function') return;
    observeHttpExchanges(fastify, ({ request, statusCode, elapsedMs, aborted }) => {
      const logger = PinoLogger.root;
      // Below 500 a line is at info or debug, both off when info is: then no URL is looked at.
      if (!logger || (statusCode < 500 && !logger.isLevelEnabled('info'))) return;
      const level = statusCode >= 500 ? 'error' : QUIET_PATHS.test(request.url) ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          reqId: request.id,
          req: request,
          res: { statusCode },
          responseTime: Math.round(elapsedMs * 10) / 10,
          ...(aborted ? { aborted } : {}),
        },
        `${request.method} ${redactUrl(request.url)} ${statusCode}`,
      );
    });
  }
}

/**
 * nestjs-pino's LoggerModule is deliberately not imported: it always mounts its Express-style
 * middleware, and a single middleware (even on a path no request has) makes Nest's Fastify adapter
 * run @fastify/middie's matching on every request. HTTP requests are logged by Fastify hooks
 * (HttpRequestLogging) instead; all this module needs from nestjs-pino is the root logger, which
 * constructing a PinoLogger sets up (once per process).
 */
@Module({
  providers: [
    HttpRequestLogging,
    {
      provide: PinoLogger,
      inject: [APP_CONFIG, GATEHOUSE_OPTIONS],
      useFactory: (config: AppConfig, options: GatehouseOptions) => new PinoLogger(loggerParams(config, options.logDestination)),
    },
  ],
  exports: [PinoLogger],
})
export class LoggingModule {}
