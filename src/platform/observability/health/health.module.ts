import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';

import { HealthController } from './health.controller.js';
import { ReadinessChecks } from './readiness-checks.js';

/** GET /health/live and /health/ready; features add their readiness checks to the exported ReadinessChecks. */
@Module({
  // Failed checks are in the 503 body; the database and Redis clients log their own outages.
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [ReadinessChecks],
  exports: [ReadinessChecks],
})
export class HealthModule {}
