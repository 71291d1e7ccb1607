import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';

import { Public } from '../../../shared/access/decorators.js';
import { WithoutDatabase } from '../../database/database-ready.guard.js';
import { MetricsService } from './metrics.service.js';

@ApiTags('operations')
@Public()
@WithoutDatabase()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @ApiOperation({
    summary: 'Prometheus metrics of this instance',
    description:
      'HTTP and message-pattern traffic, logins, lockouts, refresh-token reuse, mail, the database pool and the Node.js runtime. ' +
      'Public: expose it to the monitoring network only. Scrapes are not counted in the HTTP metrics.',
  })
  @Get()
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format (0.0.4).', schema: { type: 'string' } })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    void reply.header('Content-Type', this.metrics.contentType);
    return this.metrics.render();
  }
}
