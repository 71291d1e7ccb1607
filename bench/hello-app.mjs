// The ceiling for GET /auth/me: the same framework stack (Nest 12 on Fastify) with nothing in it.
// Runs as its own process so it never shares an event loop with the load generator.
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

class HelloController {
  hello() {
    return { hello: 'world' };
  }
}
// Plain .mjs has no decorator syntax, so the decorators are applied by hand.
Controller()(HelloController);
Get('hello')(HelloController.prototype, 'hello', Object.getOwnPropertyDescriptor(HelloController.prototype, 'hello'));

class HelloModule {}
Module({ controllers: [HelloController] })(HelloModule);

const app = await NestFactory.create(HelloModule, new FastifyAdapter(), { logger: false });
app.enableShutdownHooks();
await app.listen(0, '127.0.0.1');
process.send?.({ port: app.getHttpServer().address().port });
// Parent gone (bench killed hard): do not linger.
process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
