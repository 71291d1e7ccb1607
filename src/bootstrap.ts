import type { TlsOptions } from 'node:tls';
import fastifyCookie from '@fastify/cookie';
import { Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions } from '@nestjs/microservices';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';

import { GatehouseModule } from './app.module.js';
import { refuseForeignOriginLogins } from './auth/auth-cookies.js';
import { authOpenApi } from './auth/auth.openapi.js';
import { eventsOpenApi } from './events/events.openapi.js';
import { AppConfig, loadConfig, redisClientOptions } from './platform/config/app-config.js';
import type { GatehouseOptions } from './platform/config/gatehouse-options.js';
import { installHttpHeaders } from './platform/http/http-headers.js';
import { acceptJsonBodiesOnly } from './platform/http/json-body.js';
import { answerRouterError } from './platform/http/router-errors.js';
import { GracefulShutdown } from './platform/lifecycle/graceful-shutdown.js';
import { createJsonLogger, requestId, rpcRequestLog } from './platform/observability/logging/logging.module.js';
import { MetricsService } from './platform/observability/metrics/metrics.service.js';
import { rpcMetrics } from './platform/observability/metrics/rpc-metrics.js';
import { setupOpenApi } from './platform/openapi/openapi.js';
import { ClaimingRedisServer } from './platform/rpc/claiming-redis.server.js';
import { DrainingTcpServer } from './platform/rpc/draining-tcp.server.js';
import { observeMessageHandlers } from './platform/rpc/observed-handlers.js';

export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Builds the hybrid application: REST on Fastify, message patterns on TCP (always) and Redis (when
 * configured), all sharing the global pipe, guard and filter. Used by main.ts, the tests and the bench.
 */
export async function createGatehouseApp(
  options: GatehouseOptions = {},
): Promise<{ app: NestFastifyApplication; config: AppConfig; shutdown: GracefulShutdown }> {
  const config = options.config ?? loadConfig();
  const hops = config.http.trustProxy;
  // A hop count as a function: trust that many proxies from the socket inward, never the client's own entries.
  const trustProxy = typeof hops === 'number' ? (_address: string, hop: number) => hop < hops : hops;
  const adapter = new FastifyAdapter({
    trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: requestId,
    requestIdHeader: false,
    frameworkErrors: answerRouterError,
  });
  installHttpHeaders(adapter.getInstance(), config.corsOrigins);
  acceptJsonBodiesOnly(adapter.getInstance(), BODY_LIMIT_BYTES);
  if (config.authCookies) refuseForeignOriginLogins(adapter.getInstance(), config);
  const shutdown = new GracefulShutdown();
  shutdown.watchHttp(adapter.getInstance());
  // JSON from the first line: also what Nest writes when a provider fails and it stops the start.
  const app = await NestFactory.create<NestFastifyApplication>(GatehouseModule.forRoot({ ...options, config }), adapter, {
    logger: createJsonLogger(config, options.logDestination),
    // Nest's parsers would accept forms; the JSON-only parser is installed above.
    bodyParser: false,
  });
  if (config.authCookies) await app.register(fastifyCookie);
  setupOpenApi(app, [authOpenApi(config), eventsOpenApi]);
  app.connectMicroservice<MicroserviceOptions>(
    {
      strategy: shutdown.watchRpc(
        new DrainingTcpServer({ host: config.rpc.host, port: config.rpc.port, tlsOptions: rpcTlsOptions(config) }, shutdown.work),
      ),
    },
    { inheritAppConfig: true },
  );
  if (config.redis) {
    app.connectMicroservice<MicroserviceOptions>(
      { strategy: shutdown.watchRpc(new ClaimingRedisServer(redisClientOptions(config.redis), config.redis.prefix, shutdown.work)) },
      { inheritAppConfig: true },
    );
  }
  observeMessageHandlers(app, [rpcMetrics(app.get(MetricsService, { strict: false })), rpcRequestLog()]);
  // No enableShutdownHooks(): main.ts handles the signals (drain first, then exit 0), and apps built
  // here in tests must not add process listeners each.
  return { app, config, shutdown };
}

/**
 * TLS for the TCP listener when RPC_TLS_* are set: only clients presenting a certificate signed by
 * RPC_TLS_CA get through.
 */
function rpcTlsOptions(config: AppConfig): TlsOptions | undefined {
  const tls = config.rpc.tls;
  if (!tls) return undefined;
  return { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' };
}

export async function startGatehouse(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  // The start-up work first (signing keys, bootstrap admin, revocation feed, outbox worker): Nest
  // runs it in listen(), and startAllMicroservices() alone would take messages before it ran.
  await app.init();
  await app.startAllMicroservices();
  await app.listen({ port: config.http.port, host: config.http.host });
  const logger = new NestLogger('Gatehouse');
  logger.log(
    `HTTP on ${await app.getUrl()}; TCP message patterns on ${config.rpc.host}:${config.rpc.port}` +
      (config.redis ? `; Redis message patterns on ${config.redis.host}:${config.redis.port}/${config.redis.db}` : ''),
  );
}
