import { existsSync, readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { dirname, join } from 'node:path';
import type { INestApplication, Type } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { PATTERN_METADATA } from '@nestjs/microservices/constants.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  DocumentBuilder,
  getSchemaPath,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type PathItemObject,
  type ReferenceObject,
  type ResponseObject,
  type SchemaObject,
} from '@nestjs/swagger';

import { IS_PUBLIC, ROLES } from '../../shared/access/decorators.js';
import { CONTRACT_ERROR_CODES, ErrorCode } from '../../shared/errors/app-error.js';
import { BEARER_SCHEME, describeError, ErrorBodyResponse, type DocumentedError } from './api-errors.js';
import { MESSAGE_PATTERN_DOC, type MessagePatternDoc, type MessageReply } from './api-message-pattern.js';

export const DOCS_PATH = '/docs';
export const DOCS_JSON_PATH = '/docs-json';

/**
 * What a feature adds to the document beyond its controllers' decorators: the composition root
 * (bootstrap.ts) hands them in, so that this plumbing knows no feature.
 */
export interface OpenApiContribution {
  /** Schemas to list although no route names them. */
  extraModels?: Type[];
  /** Security schemes and the like. */
  configure?(builder: DocumentBuilder): void;
  /** Adjusts one operation, after the controllers' decorators have described it. */
  operation?(path: string, method: Method, operation: OperationObject): void;
  /** Adjusts the finished document. */
  finish?(document: OpenAPIObject): void;
  /** Appended to the description's Authentication paragraph. */
  authentication?: string;
  /** Markdown sections appended to the description. */
  sections?: string[];
}

/**
 * Serves the OpenAPI document at /docs-json and the Swagger UI at /docs. Both are plain Fastify
 * routes, outside Nest's guards: public by construction.
 */
export function setupOpenApi(app: NestFastifyApplication, contributions: OpenApiContribution[] = []): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app, contributions), {
    jsonDocumentUrl: DOCS_JSON_PATH,
    raw: ['json'],
    customSiteTitle: 'gatehouse API',
    swaggerOptions: { validatorUrl: null, persistAuthorization: false },
  });
}

/** The OpenAPI 3 document: every REST route from the controllers' decorators, and the message patterns. */
export function buildOpenApiDocument(app: INestApplication, contributions: OpenApiContribution[] = []): GatehouseOpenApi {
  const patterns = messagePatterns(app);
  const builder = new DocumentBuilder()
    .setTitle('gatehouse')
    .setVersion(packageVersion())
    .setDescription(description(patterns, contributions))
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The accessToken of a LoginResult.' }, BEARER_SCHEME)
    .addTag('auth', 'Registration, login, tokens, email verification and passwords')
    .addTag('account', "The caller's own account: profile, email change, export and deletion")
    .addTag('sessions', "The caller's sessions")
    .addTag('users (admin)', 'User administration: the admin role')
    .addTag('audit (admin)', 'The audit log of domain events: the admin role')
    .addTag('keys', 'Public keys for verifying access tokens')
    .addTag('operations', 'Probes and metrics');
  for (const c of contributions) c.configure?.(builder);
  const extraModels = [
    ErrorBodyResponse,
    ...contributions.flatMap((c) => c.extraModels ?? []),
    ...patterns.flatMap((p) => [p.payload, ...replyModels(p.doc.reply)]),
  ];
  const document = SwaggerModule.createDocument(app, builder.build(), { extraModels: [...new Set(extraModels)] });
  documentOperationsRoutes(document);
  forEachOperation(document, (path, method, operation) => {
    for (const c of contributions) c.operation?.(path, method, operation);
    addError(operation, ErrorCode.INTERNAL_ERROR);
    for (const [status, response] of Object.entries(operation.responses) as Array<[string, ResponseObject]>) {
      if (!response.description) response.description = STATUS_CODES[Number(status)] ?? status;
    }
  });
  for (const c of contributions) c.finish?.(document);
  Object.assign(document.paths, DOCUMENT_ROUTES);
  return { ...document, 'x-message-patterns': patterns.map(patternEntry) };
}

/** One message pattern in the document's `x-message-patterns` list. */
export interface MessagePatternEntry {
  pattern: string;
  summary: string;
  access: string;
  payload: ReferenceObject;
  reply: SchemaObject | ReferenceObject;
  errors: Array<{ code: string; statusCode: number; when: string }>;
}

export type GatehouseOpenApi = OpenAPIObject & { 'x-message-patterns': MessagePatternEntry[] };

interface PatternInfo {
  pattern: string;
  payload: Type;
  doc: MessagePatternDoc;
  access: 'trusted' | 'token' | 'admin';
}

/** Every @MessagePattern handler of the application, with its documentation and guards. */
function messagePatterns(app: INestApplication): PatternInfo[] {
  const found: PatternInfo[] = [];
  const reflector = app.get(Reflector);
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | undefined;
      if (!controller?.prototype) continue;
      const proto = controller.prototype as Record<string, unknown>;
      for (const key of Object.getOwnPropertyNames(proto)) {
        const handler = proto[key];
        if (key === 'constructor' || typeof handler !== 'function') continue;
        const names = Reflect.getMetadata(PATTERN_METADATA, handler) as unknown[] | undefined;
        if (!names) continue;
        const doc = (Reflect.getMetadata(MESSAGE_PATTERN_DOC, handler) as MessagePatternDoc | undefined) ?? {
          summary: '',
          reply: Object as Type,
        };
        const params = Reflect.getMetadata('design:paramtypes', proto, key) as Type[] | undefined;
        const payload = doc.payload ?? params?.[0] ?? Object;
        // Read as the guards read them.
        const isPublic = reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [handler, controller]);
        const roles = reflector.getAllAndOverride<string[] | undefined>(ROLES, [handler, controller]);
        const access = isPublic ? 'trusted' : roles?.length ? 'admin' : 'token';
        for (const name of names) found.push({ pattern: String(name), payload: payload as Type, doc, access });
      }
    }
  }
  return found.sort((a, b) => a.pattern.localeCompare(b.pattern));
}

function replyModels(reply: MessageReply): Type[] {
  if (typeof reply === 'function') return [reply];
  if ('arrayOf' in reply) return [reply.arrayOf];
  if ('nullable' in reply) return [reply.nullable];
  return reply.oneOf;
}

function replySchema(reply: MessageReply): SchemaObject | ReferenceObject {
  if (typeof reply === 'function') return { $ref: getSchemaPath(reply) };
  if ('arrayOf' in reply) return { type: 'array', items: { $ref: getSchemaPath(reply.arrayOf) } };
  if ('nullable' in reply) return { oneOf: [{ $ref: getSchemaPath(reply.nullable) }], nullable: true };
  return { oneOf: reply.oneOf.map((m) => ({ $ref: getSchemaPath(m) })) };
}

const ACCESS_TEXT: Record<PatternInfo['access'], string> = {
  trusted: 'trusted callers (the private network); no token',
  token: "the payload's accessToken, verified as a bearer token is over REST",
  admin: "the payload's accessToken, which must be an admin's",
};

function patternErrors(info: PatternInfo): Array<{ code: string; statusCode: number; when: string }> {
  const errors: DocumentedError[] = [
    { code: ErrorCode.VALIDATION_FAILED, when: 'the payload fails validation; `errors` lists the fields' },
  ];
  if (info.access !== 'trusted')
    errors.push({ code: ErrorCode.UNAUTHORIZED, when: 'the accessToken is missing, invalid, expired or its session ended' });
  if (info.access === 'admin') errors.push({ code: ErrorCode.FORBIDDEN, when: "the accessToken is not an admin's" });
  errors.push(...(info.doc.errors ?? []));
  const seen = new Set<string>();
  return errors
    .map(describeError)
    .filter((e) => !seen.has(`${e.code} ${e.when}`) && seen.add(`${e.code} ${e.when}`))
    .map((e) => ({ code: e.code, statusCode: e.status, when: e.when }));
}

function patternEntry(info: PatternInfo): MessagePatternEntry {
  return {
    pattern: info.pattern,
    summary: info.doc.summary,
    access: ACCESS_TEXT[info.access],
    payload: { $ref: getSchemaPath(info.payload) },
    reply: replySchema(info.doc.reply),
    errors: patternErrors(info),
  };
}

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'options' | 'head';
const METHODS: Method[] = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head'];

function forEachOperation(document: OpenAPIObject, fn: (path: string, method: Method, operation: OperationObject) => void): void {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) fn(path, method, operation);
    }
  }
}

/** Adds an error answer to an operation, merged into the status's existing description and examples. */
export function addError(operation: OperationObject, error: DocumentedError): void {
  const doc = describeError(error);
  const key = String(doc.status);
  const existing = operation.responses[key] as ResponseObject | undefined;
  const content = existing?.content?.['application/json'] ?? { schema: { $ref: getSchemaPath(ErrorBodyResponse) } };
  const examples = { ...content.examples };
  const name = examples[doc.code] ? `${doc.code}_${Object.keys(examples).length + 1}` : doc.code;
  examples[name] = { summary: `${doc.code}: ${doc.when}`, value: doc.body };
  const line = `\`${doc.code}\`: ${doc.when}`;
  operation.responses[key] = {
    ...existing,
    description: existing?.description ? `${existing.description}\n\n${line}` : line,
    content: { ...existing?.content, 'application/json': { ...content, examples } },
  };
}

interface OperationDoc {
  summary: string;
  description?: string;
  responses: Record<string, ResponseObject>;
}

const jsonSchema = (schema: SchemaObject): ResponseObject['content'] => ({ 'application/json': { schema } });
const STATUS_SCHEMA: SchemaObject = { type: 'object', properties: { status: { type: 'string' } }, additionalProperties: true };

/**
 * The probes and metrics of the contract: documented here when their controllers say nothing (or
 * are not Nest controllers at all), never overriding what a controller declares.
 */
const OPERATIONS_ROUTES: Record<string, OperationDoc> = {
  '/health/live': {
    summary: 'Liveness: the process answers (no dependency is checked)',
    responses: { 200: { description: 'Alive.', content: jsonSchema(STATUS_SCHEMA) } },
  },
  '/health/ready': {
    summary: 'Readiness: the database (and Redis, when configured) answer',
    description: 'Take the instance out of a load balancer while this answers 503.',
    responses: {
      200: { description: 'Ready.', content: jsonSchema(STATUS_SCHEMA) },
      503: {
        description: 'Not ready: a dependency is down (`SERVICE_UNAVAILABLE` or a per-dependency report).',
        content: jsonSchema({ type: 'object', additionalProperties: true }),
      },
    },
  },
  '/metrics': {
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'Metrics.', content: { 'text/plain': { schema: { type: 'string' } } } } },
  },
};

/** This document and its UI: served by SwaggerModule, outside the controllers. */
const DOCUMENT_ROUTES: Record<string, PathItemObject> = {
  [DOCS_PATH]: {
    get: {
      tags: ['operations'],
      summary: 'This reference, in the Swagger UI',
      operationId: 'docsUi',
      responses: { 200: { description: 'The UI page.', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  [DOCS_JSON_PATH]: {
    get: {
      tags: ['operations'],
      summary: 'This OpenAPI document',
      operationId: 'docsJson',
      responses: {
        200: {
          description: 'OpenAPI 3 document, with the message patterns in `x-message-patterns`.',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
  },
};

function documentOperationsRoutes(document: OpenAPIObject): void {
  for (const [path, doc] of Object.entries(OPERATIONS_ROUTES)) {
    const item: PathItemObject = (document.paths[path] ??= {});
    const operation = (item.get ??= { responses: {} });
    operation.summary ||= doc.summary;
    if (doc.description) operation.description ||= doc.description;
    if (!operation.tags?.length) operation.tags = ['operations'];
    for (const [status, response] of Object.entries(doc.responses)) {
      const existing = operation.responses[status] as ResponseObject | undefined;
      if (!existing?.content) operation.responses[status] = { ...response, description: existing?.description || response.description };
    }
    // A controller without response decorators gets a bare `200: { description: '' }`; the content above replaces it.
  }
}

function description(patterns: PatternInfo[], contributions: OpenApiContribution[]): string {
  const codes = CONTRACT_ERROR_CODES.map((c) => describeError(c)).map((e) => `| \`${e.code}\` | ${e.status} | ${e.when} |`);
  const rows = patterns.map((p) => {
    const reply = replyModels(p.doc.reply)
      .map((m) => `\`${schemaName(m)}\``)
      .join(' or ');
    const shape =
      typeof p.doc.reply === 'function'
        ? reply
        : 'arrayOf' in p.doc.reply
          ? `array of ${reply}`
          : 'nullable' in p.doc.reply
            ? `${reply} or null`
            : reply;
    return `| \`${p.pattern}\` | \`${schemaName(p.payload)}\` | ${shape} | ${p.access === 'trusted' ? 'trusted' : p.access === 'admin' ? 'admin token' : 'token'} | ${p.doc.summary} |`;
  });
  return [
    'Accounts and authentication: users, passwords, sessions, JWT access tokens with rotating refresh tokens, over REST and message patterns.',
    '',
    '## Authentication',
    'Send `Authorization: Bearer <accessToken>` (from a LoginResult) on authenticated routes. Access tokens are JWTs verifiable with `GET /.well-known/jwks.json`.' +
      contributions.map((c) => c.authentication ?? '').join(''),
    '',
    '## Errors',
    'Every error, on every route and message pattern, has the body `{ statusCode, code, message, errors? }` (schema `ErrorBody`); `code` is stable. ' +
      'Validation errors add `errors: [{ field, messages }]`. No error carries a stack trace, SQL or an internal class name.',
    '',
    '| code | status | when |',
    '| --- | --- | --- |',
    ...codes,
    '',
    '## Message patterns',
    'The same operations for services on the private network: string patterns over TCP (always) and Redis (when REDIS_URL is set), ' +
      "e.g. with a Nest `ClientProxy`: `client.send('auth.login', { email, password })`. A failure rejects with the error body above " +
      '(over RPC, TOO_MANY_REQUESTS carries `retryAfter` seconds). Message patterns are not rate-limited, but login obeys the account lockout. ' +
      "Payload and reply schemas are in `components.schemas`; the machine-readable list, with each pattern's errors, is the `x-message-patterns` " +
      'extension of this document.',
    '',
    '| pattern | payload | reply | access | what |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    ...contributions.flatMap((c) => (c.sections ?? []).flatMap((section) => ['', section])),
  ].join('\n');
}

export function schemaName(model: Type): string {
  return getSchemaPath(model).replace('#/components/schemas/', '');
}

let version: string | undefined;

/** The version of the gatehouse package this code belongs to (from source, from dist, or installed). */
function packageVersion(): string {
  if (version) return version;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gatehouse' && pkg.version) return (version = pkg.version);
    }
    if (dirname(dir) === dir) return (version = '0.0.0');
  }
}
