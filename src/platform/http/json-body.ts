import type { FastifyInstance } from 'fastify';

import { unsupportedMediaType } from '../../shared/errors/app-error.js';
import { assertJsonDepth } from '../../shared/validation/json-depth.js';

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;

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
