import type { OpenApiContribution } from '../platform/openapi/openapi.js';
import { EVENT_TYPES } from './events.js';

/** The Events section of the OpenAPI document's description. */
export const eventsOpenApi: OpenApiContribution = {
  sections: [
    '## Events\n' +
      `Emitted in-process and, with REDIS_URL, published as JSON on the Redis channel \`<REDIS_PREFIX>.events\`: ${EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}. ` +
      'Payload `{ type, userId, sessionId?, at, ip? }`, never a secret. Each is also in the audit log (`GET /audit`).',
  ],
};
