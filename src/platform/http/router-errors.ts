import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { AppError, ErrorCode, validationFailed } from '../../shared/errors/app-error.js';
import { toAppError } from '../../shared/errors/error-mapping.js';
import { reportHttpExchange } from './http-exchanges.js';
import { setResponseHeaders } from './http-headers.js';

/**
 * Fastify's `frameworkErrors`: the router refuses a URL it cannot decode (`/%zz`) or a route
 * parameter over its length limit before any hook runs, so without this the answer is Fastify's own
 * body (its error code, the URL echoed) without our headers or request id, and nothing logs or counts
 * it. Answered here like any other request: the contract's body, the usual headers, the request id,
 * a request line and the metrics.
 */
export function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer =
    error.code === 'FST_ERR_BAD_URL'
      ? validationFailed('malformed URL', [])
      : // No id that long names anything.
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new AppError(ErrorCode.NOT_FOUND, 'not found')
        : toAppError(error);
  reply.raw.once('finish', () => reportHttpExchange(request, reply));
  setResponseHeaders(request, reply);
  void reply.status(answer.statusCode).send(answer.toBody());
}
