import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';

import { observeHttpExchanges } from '../../http/http-exchanges.js';
import { MetricsService } from './metrics.service.js';

/** The route label of requests that matched no route (any URL), so probes cannot grow the label set. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Scrapes are left out: Prometheus times them itself, and they would dominate a quiet service's rates. */
export const METRICS_ROUTE = '/metrics';

/**
 * Counts and times every HTTP request once it is answered (observeHttpExchanges), so requests refused
 * by a guard, by validation, by the body limit or by the router are counted like any other, and
 * those whose client left before the answer under status 499. The route label is the
 * route's template (`/users/:id`), never the URL.
 */
@Injectable()
export class HttpMetrics implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: MetricsService,
  ) {}

  onModuleInit(): void {
    const adapter = this.adapterHost.httpAdapter as { getType?(): string; getInstance?(): unknown } | undefined;
    // Without the Fastify adapter (a microservice-only app) there is no HTTP to measure.
    if (adapter?.getType?.() !== 'fastify' || !adapter.getInstance) return;
    const fastify = adapter.getInstance() as FastifyInstance;
    observeHttpExchanges(fastify, ({ request, statusCode, elapsedMs }) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      if (route !== METRICS_ROUTE) this.metrics.observeHttp(request.method, route, statusCode, elapsedMs / 1000);
    });
  }
}
