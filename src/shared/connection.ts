/** Where a call came from, as recorded on its session. */
export interface ConnectionInfo {
  ip?: string | null;
  userAgent?: string | null;
}

/** Stores the plain address: `::ffff:127.0.0.1` becomes `127.0.0.1`. */
export function normalizeIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
