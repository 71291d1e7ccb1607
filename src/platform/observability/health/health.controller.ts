import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';

import { Public } from '../../../shared/access/decorators.js';
import { ErrorCode } from '../../../shared/errors/app-error.js';
import { WithoutDatabase } from '../../database/database-ready.guard.js';
import { ReadinessChecks } from './readiness-checks.js';

/** The 503 of GET /health/ready: the contract's error body with terminus's per-check details. */
export type NotReadyBody = HealthCheckResult & { statusCode: 503; code: ErrorCode.SERVICE_UNAVAILABLE; message: string };

@ApiTags('health')
@Public()
@WithoutDatabase()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly checks: ReadinessChecks,
  ) {}

  @ApiOperation({ summary: 'Liveness: 200 while the process runs; checks no dependency' })
  @ApiOkResponse({ description: '`{ "status": "ok" }`' })
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @ApiOperation({
    summary: 'Readiness: database, Redis (when REDIS_URL is set) and the mail outbox backlog',
    description:
      'Each check gives up after HEALTH_TIMEOUT_MS. The outbox reports `pending` and `oldestDueSeconds`, and fails only above HEALTH_OUTBOX_MAX_DUE_AGE (when set).',
  })
  @ApiOkResponse({ description: '`{ status: "ok", info, error, details }` with one entry per check' })
  @ApiServiceUnavailableResponse({
    description: '`{ statusCode: 503, code: "SERVICE_UNAVAILABLE", message, status, info, error, details }`',
  })
  @Get('ready')
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult | NotReadyBody> {
    try {
      return await this.health.check(this.checks.list());
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      const result = error.getResponse() as HealthCheckResult;
      const failing = Object.keys(result.error ?? {});
      const message = result.status === 'shutting_down' ? 'shutting down' : `not ready: ${failing.join(', ')}`;
      void reply.status(503);
      return { statusCode: 503, code: ErrorCode.SERVICE_UNAVAILABLE, message, ...result };
    }
  }
}
