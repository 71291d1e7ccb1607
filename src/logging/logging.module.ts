import { Module, RequestMethod, type ExecutionContext } from '@nestjs/common';
import { getRpcInfo, LoggerModule, type Params } from 'nestjs-pino';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import pino, { type DestinationStream, type Level, type LoggerOptions } from 'pino';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';
import type { LogLevel } from '../config/env.schema.js';
import { GATEHOUSE_OPTIONS, type GatehouseOptions } from '../gatehouse-options.js';
import { redactText, redactUrl, REDACT_PATHS, REDACTED } from './redact.js';

export const REQUEST_ID_HEADER = 'x-request-id';

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
 * picks the id up from there, and installRequestIdHeader sends it back.
 */
export function requestId(req: IncomingMessage): string {
  const inbound = req.headers[REQUEST_ID_HEADER];
  return typeof inbound === 'string' && VALID_REQUEST_ID.test(inbound) ? inbound : randomUUID();
}

/** Echoes the request id on every response, errors and 404s included. */
export function installRequestIdHeader(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
}

interface SerializedRequest {
  id?: unknown;
  method?: string;
  url?: string;
  headers?: Record<string, unknown>;
  remoteAddress?: string;
  raw?: IncomingMessage & { ip?: string };
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
      req: (req: SerializedRequest) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
        ip: req.raw?.ip ?? req.remoteAddress,
        userAgent: typeof req.headers?.['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : undefined,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      err: (err: Error) => {
        const serialized = pino.stdSerializers.err(err) as SerializedError;
        return {
          type: serialized.type,
          message: serialized.message === undefined ? undefined : redactText(serialized.message),
          stack: serialized.stack === undefined ? undefined : redactText(serialized.stack),
        };
      },
    },
  };
  return {
    // Every route, the root included (the module's default pattern does not match under Fastify).
    forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
    pinoHttp: [
      {
        ...options,
        // Fastify has already given the request its id (see requestId); pino-http logs that one.
        // Logs made while handling a request carry its id only, not the whole request again.
        quietReqLogger: true,
        customLogLevel: (req, res, error) => {
          if (error || res.statusCode >= 500) return 'error';
          return QUIET_PATHS.test(req.url ?? '') ? 'debug' : 'info';
        },
        customSuccessMessage: (req, res) => `${req.method} ${redactUrl(req.url)} ${res.statusCode}`,
        customErrorMessage: (req, res) => `${req.method} ${redactUrl(req.url)} ${res.statusCode}`,
      },
      destination ?? pino.destination({ dest: 1, sync: true }),
    ],
    microservice: {
      genReqId: () => randomUUID(),
      // Logs made inside a handler carry the message id; the closing line also names the pattern.
      quietRpcLogger: true,
      customSuccessMessage: (context) => `${patternOf(context)} completed`,
      customErrorMessage: (context) => `${patternOf(context)} failed`,
      // A refused call is as often the caller's doing as ours (a wrong password is one): its line
      // carries the error code at info; only a fault of the service itself is an error with a stack.
      customLogLevel: (_context, error) => (error && isServerFault(error) ? 'error' : 'info'),
      customErrorObject: (_context, error, value) =>
        isServerFault(error) ? value : { responseTime: (value as { responseTime?: number }).responseTime, code: errorCode(error) },
    },
  };
}

function patternOf(context: ExecutionContext): string {
  const { pattern } = getRpcInfo(context);
  return typeof pattern === 'string' ? pattern : JSON.stringify(pattern ?? 'unknown');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isServerFault(error: unknown): boolean {
  const candidate = error as { statusCode?: unknown; getStatus?: () => unknown } | undefined;
  const status = typeof candidate?.getStatus === 'function' ? candidate.getStatus() : candidate?.statusCode;
  return typeof status === 'number' ? status >= 500 : true;
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG, GATEHOUSE_OPTIONS],
      useFactory: (config: AppConfig, options: GatehouseOptions) => loggerParams(config, options.logDestination),
    }),
  ],
})
export class LoggingModule {}
