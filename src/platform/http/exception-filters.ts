import { ArgumentsHost, Catch, ExceptionFilter, Optional, RpcExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable, throwError } from 'rxjs';

import { ErrorCode } from '../../shared/errors/app-error.js';
import { toAppError } from '../../shared/errors/error-mapping.js';
import { DatabaseConnection } from '../database/database-connection.js';

type ErrorContext = Parameters<typeof toAppError>[1];

/** Maps every error of an HTTP request to the contract's body and status. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost, context?: ErrorContext): void {
    const error = toAppError(exception, { ...context, requestId: host.switchToHttp().getRequest<FastifyRequest>().id });
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    // Over HTTP the wait goes in the Retry-After header; RPC callers get it as `retryAfter` in the body.
    const { retryAfter, ...body } = error.toBody();
    if (error.code === ErrorCode.TOO_MANY_REQUESTS && retryAfter !== undefined) void reply.header('Retry-After', String(retryAfter));
    void reply.status(error.statusCode).send(body);
  }
}

/**
 * Maps every error of a message-pattern handler to the same body. Without this, Nest hands RPC
 * callers an opaque "Internal server error" for anything that is not an RpcException.
 */
@Catch()
export class RpcErrorFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host?: ArgumentsHost, context?: ErrorContext): Observable<never> {
    const body = toAppError(exception, context).toBody();
    return throwError(() => body);
  }
}

/** One filter for the hybrid app: it dispatches on the transport of the failing call. */
@Catch()
export class AllErrorsFilter implements ExceptionFilter {
  private readonly http = new HttpErrorFilter();
  private readonly rpc = new RpcErrorFilter();

  constructor(@Optional() private readonly database?: DatabaseConnection) {}

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    const context = { databaseReady: this.database?.ready };
    if (host.getType() === 'rpc') return this.rpc.catch(exception, host, context);
    this.http.catch(exception, host, context);
  }
}
