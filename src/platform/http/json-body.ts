import type { FastifyInstance } from 'fastify';

import { AppError, ErrorCode, unsupportedMediaType } from '../../shared/errors/app-error.js';
import { assertJsonDepth } from '../../shared/validation/json-depth.js';

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

/**
 * A body declared over the limit but within this size is read through (never kept) before it is
 * answered 413, as the TCP listener reads through a refused message of up to 4 MiB. Answered and
 * closed at once (Fastify's way), the connection is reset while the client is still sending, and
 * many clients (Node's among them) report the reset (EPIPE) instead of the answer. Larger ones, and
 * chunked bodies, which declare nothing, are still answered and closed as soon as they pass the limit.
 */
export const READ_THROUGH_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Request bodies are JSON only. Fastify's own text/plain parser and Nest's form parser are removed
 * (the app is created with `bodyParser: false`): a form, multipart or text body is something any
 * web page can make a browser send without a CORS preflight. Whatever finds no parser is answered
 * 415 by Fastify, which the error filter turns into the contract's body. `application/*+json` is
 * refused too: those types name other documents (merge-patch, problem details) than ours.
 */
export function acceptJsonBodiesOnly(fastify: FastifyInstance, bodyLimit: number): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeAllContentTypeParsers();
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const declared = declaredLength(request.headers['content-length']);
    if (declared <= bodyLimit || declared > READ_THROUGH_MAX_BYTES) {
      done(null, payload);
      return;
    }
    // Flowing with no one keeping the chunks: each is dropped as it arrives.
    payload.on('data', () => undefined);
    payload.once('end', () => done(new AppError(ErrorCode.PAYLOAD_TOO_LARGE, 'request body too large')));
    payload.once('error', (error) => done(error));
  });
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body: string, done) => {
    // JSON is UTF-8 (RFC 8259); another declared charset would be decoded wrongly, passwords included.
    const charset = CHARSET.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      done(unsupportedMediaType(), undefined);
      return;
    }
    // Fetch wrappers send the header with no body on body-less requests: that is no body, not bad JSON.
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    // Fastify's own parser (prototype-poisoning checks included) answers through the callback.
    void parseJson(request, body, (error, value) => {
      if (error) {
        done(error, undefined);
        return;
      }
      try {
        assertJsonDepth(value);
      } catch (tooDeep) {
        done(tooDeep as Error, undefined);
        return;
      }
      done(null, value);
    });
  });
}

/** The Content-Length of a request; Infinity when there is none (chunked) or it is not a number. */
function declaredLength(header: string | undefined): number {
  return header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : Number.POSITIVE_INFINITY;
}
