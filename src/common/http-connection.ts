import type { FastifyRequest } from 'fastify';
import { normalizeIp, type ConnectionInfo } from '../sessions/sessions.service.js';

/** The client address (X-Forwarded-For only with TRUST_PROXY, via Fastify's trustProxy) and agent. */
export function connectionOf(request: FastifyRequest): ConnectionInfo {
  const agent = request.headers['user-agent'];
  return { ip: normalizeIp(request.ip), userAgent: typeof agent === 'string' ? agent.slice(0, 512) : null };
}
