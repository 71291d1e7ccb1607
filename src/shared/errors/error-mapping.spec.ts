import { Logger, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { QueryFailedError, QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';

import { AppError, ErrorCode } from './app-error';
import { toAppError } from './error-mapping';

describe('toAppError', () => {
  it('passes domain errors through', () => {
    const e = new AppError(ErrorCode.EMAIL_TAKEN, 'taken');
    expect(toAppError(e)).toBe(e);
  });

  it.each([
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    new Error('Connection terminated unexpectedly'),
    new QueryRunnerProviderAlreadyReleasedError(),
    new QueryRunnerAlreadyReleasedError(),
    new Error('Client was closed and is not queryable'),
    new QueryFailedError(
      'SELECT 1',
      [],
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ),
    new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], ''),
    // A plain object shaped like an error (as from another realm).
    { message: 'timeout exceeded when trying to connect' },
  ])('maps database unavailability to SERVICE_UNAVAILABLE: %#', (error) => {
    expect(toAppError(error).toBody()).toEqual({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      message: 'service temporarily unavailable',
    });
  });

  it('maps framework errors to contract codes', () => {
    expect(toAppError(new NotFoundException('Cannot GET /x')).toBody()).toEqual({
      statusCode: 404,
      code: 'NOT_FOUND',
      message: 'not found',
    });
    expect(toAppError(new PayloadTooLargeException()).toBody()).toMatchObject({ statusCode: 413, code: 'VALIDATION_FAILED' });
    expect(toAppError(Object.assign(new Error('Body is not valid JSON'), { statusCode: 400 })).toBody()).toMatchObject({
      statusCode: 400,
      code: 'VALIDATION_FAILED',
    });
    // Fastify's answer to a body no parser takes (a form, text/plain): 415, in the contract's shape.
    expect(
      toAppError(Object.assign(new Error('Unsupported Media Type'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' })).toBody(),
    ).toEqual({ statusCode: 415, code: 'VALIDATION_FAILED', message: expect.any(String) });
  });

  it('never takes a client leaving mid-body for a database outage', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      // What Fastify's body reader fails with when the connection closes before the body is complete.
      const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET', statusCode: 400 });
      expect(toAppError(aborted).toBody()).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('blames the database for unexpected errors while it is not ready, and only then', () => {
    const unexpected = new Error('No metadata for "UserEntity" was found.');
    expect(toAppError(unexpected, { databaseReady: false }).toBody()).toEqual({
      statusCode: 503,
      code: 'SERVICE_UNAVAILABLE',
      message: 'service temporarily unavailable',
    });
    expect(toAppError(unexpected, { databaseReady: true }).toBody()).toEqual({
      statusCode: 500,
      code: 'INTERNAL_ERROR',
      message: 'internal error',
    });
    // Answers that do not depend on the database keep their meaning.
    expect(toAppError(new NotFoundException(), { databaseReady: false }).toBody()).toMatchObject({ statusCode: 404, code: 'NOT_FOUND' });
    const domain = new AppError(ErrorCode.UNAUTHORIZED, 'authentication required');
    expect(toAppError(domain, { databaseReady: false })).toBe(domain);
  });

  it('hides everything else behind a fixed 500 body', () => {
    const leaky = new QueryFailedError('SELECT password_hash FROM users', ['secret'], new Error('syntax error at or near "FROM"'));
    const body = toAppError(leaky).toBody();
    expect(body).toEqual({ statusCode: 500, code: 'INTERNAL_ERROR', message: 'internal error' });
  });
});
