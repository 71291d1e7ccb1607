import type { FastifyRequest } from 'fastify';

import { normalizeIp, type ConnectionInfo } from '../../shared/connection.js';

// Node's HTTP parser lets tabs and latin-1 C1 bytes (0x80-0x9f: NEL, CSI…) through in header values.
const CONTROL_RUNS = /\p{Cc}+/gu;

/**
 * The client address (X-Forwarded-For only with TRUST_PROXY, via Fastify's trustProxy) and agent.
 * The agent is informational, so a control character in it is replaced by a space rather than the
 * request refused: none reaches the sessions table, the audit log or a log line.
 */
export function connectionOf(request: FastifyRequest): ConnectionInfo {
  const agent = request.headers['user-agent'];
  return {
    ip: normalizeIp(request.ip),
    userAgent: typeof agent === 'string' ? agent.replace(CONTROL_RUNS, ' ').trim().slice(0, 512) : null,
  };
}
