import { ArgumentsHost, Catch, ExceptionFilter, RpcExceptionFilter } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Observable, throwError } from 'rxjs';
import { ErrorCode } from './app-error.js';
import { toAppError } from './error-mapping.js';

/** Maps every error of an HTTP request to the contract's body and status. */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const error = toAppError(exception);
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
  catch(exception: unknown): Observable<never> {
    const body = toAppError(exception).toBody();
    return throwError(() => body);
  }
}

/** One filter for the hybrid app: it dispatches on the transport of the failing call. */
@Catch()
export class AllErrorsFilter implements ExceptionFilter {
  private readonly http = new HttpErrorFilter();
  private readonly rpc = new RpcErrorFilter();

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (host.getType() === 'rpc') return this.rpc.catch(exception);
    this.http.catch(exception, host);
  }
}
