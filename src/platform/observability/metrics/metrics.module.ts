import { Global, Module } from '@nestjs/common';

import { DatabaseMetrics } from './database-metrics.js';
import { HttpMetrics } from './http-metrics.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus metrics at GET /metrics; MetricsService is global so any feature can count its events. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService, HttpMetrics, DatabaseMetrics],
  exports: [MetricsService],
})
export class MetricsModule {}
