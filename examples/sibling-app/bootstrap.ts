import type { AuthClientOptions } from '@gatehouse/client';
import { NestFactory } from '@nestjs/core';
import { Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

import { SiblingAppModule } from './app.module.js';

/** The example app: HTTP on Fastify and message patterns on TCP, both guarded. */
export async function startSiblingApp(auth: AuthClientOptions, ports: { http: number; tcp: number }): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(SiblingAppModule.forRoot(auth), new FastifyAdapter(), {
    logger: ['error', 'warn'],
  });
  app.connectMicroservice<MicroserviceOptions>(
    { transport: Transport.TCP, options: { host: '127.0.0.1', port: ports.tcp } },
    { inheritAppConfig: true },
  );
  app.enableShutdownHooks();
  await app.startAllMicroservices();
  await app.listen({ port: ports.http, host: '127.0.0.1' });
  return app;
}
