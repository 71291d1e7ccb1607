// The framework floors: the same stack as gatehouse (Nest 12, a Fastify HTTP app with a TCP
// microservice connected to it) with nothing in it. GET /hello is the ceiling for GET /auth/me;
// the `echo` message pattern over TCP is the ceiling for `auth.verify`.
// Runs as its own process so it never shares an event loop with the load generator.
import 'reflect-metadata';

import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessagePattern, Transport } from '@nestjs/microservices';
import { FastifyAdapter } from '@nestjs/platform-fastify';

class HelloController {
  hello() {
    return { hello: 'world' };
  }

  echo(data) {
    return data;
  }
}
// Plain .mjs has no decorator syntax, so the decorators are applied by hand.
const method = (name) => [HelloController.prototype, name, Object.getOwnPropertyDescriptor(HelloController.prototype, name)];
Controller()(HelloController);
Get('hello')(...method('hello'));
MessagePattern('echo')(...method('echo'));

class HelloModule {}
Module({ controllers: [HelloController] })(HelloModule);

const app = await NestFactory.create(HelloModule, new FastifyAdapter(), { logger: false });
const rpc = app.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port: 0 } });
app.enableShutdownHooks();
await app.startAllMicroservices();
await app.listen(0, '127.0.0.1');
process.send?.({ port: app.getHttpServer().address().port, rpcPort: rpc.unwrap().address().port });
// Parent gone (bench killed hard): do not linger.
process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
