import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * Development database: PGlite (PostgreSQL compiled to WebAssembly) served over the wire protocol
 * on loopback, so the ordinary pg driver and TypeORM talk to it exactly as to a real server.
 * Data lives under DATA_DIR/pgdata. One process at a time; production sets DATABASE_URL.
 */
export async function startEmbeddedPostgres(dataDir: string, maxConnections: number): Promise<EmbeddedPostgres> {
  const logger = new Logger('EmbeddedPostgres');
  const dir = join(dataDir, 'pgdata');
  await mkdir(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create({ dataDir: dir });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections });
  await server.start();
  const address = server.getServerConn();
  logger.log(`DATABASE_URL is not set: using the embedded PostgreSQL (PGlite) with data in ${dir}; set DATABASE_URL for production`);
  return {
    url: `postgres://postgres@${address}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
