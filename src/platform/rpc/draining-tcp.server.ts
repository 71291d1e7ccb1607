import type { Socket } from 'node:net';
import { ServerTCP, type BaseRpcContext, type TcpOptions, type TcpSocket, type WritePacket } from '@nestjs/microservices';
import type { Observable } from 'rxjs';

import type { InFlightWork } from '../lifecycle/in-flight-work.js';
import { BoundedJsonSocket } from './bounded-json-socket.js';
import { MAX_MESSAGE_BYTES } from './message-limits.js';
import { RpcIntake, shuttingDown, trackCall } from './rpc-intake.js';

/**
 * Nest's TCP transport with a graceful stop. Nest's own close() destroys every open socket at once,
 * cutting the replies of calls still running; here a shutdown first stops listening and answers any
 * new message on an open connection with SERVICE_UNAVAILABLE, waits (through InFlightWork) for the
 * calls already accepted, and then ends each connection after its last reply is flushed.
 */
export class DrainingTcpServer extends ServerTCP implements RpcIntake {
  private accepting = true;

  constructor(
    options: Required<TcpOptions>['options'],
    private readonly work: InFlightWork,
  ) {
    super(options);
  }

  /** Every connection reads through the size limit: an oversize message is never buffered or parsed. */
  protected override getSocketInstance(socket: Socket): TcpSocket {
    const warn = (line: string): void => {
      this.logger.warn(line);
    };
    return new BoundedJsonSocket(socket, { maxMessageBytes: MAX_MESSAGE_BYTES, warn });
  }

  override async handleMessage(socket: TcpSocket, rawMessage: unknown): Promise<unknown> {
    if (this.accepting) return super.handleMessage(socket, rawMessage);
    const packet = (await this.deserializer.deserialize(rawMessage)) as { id?: string };
    // An event (no id) expects no answer.
    if (packet.id === undefined) return undefined;
    socket.sendMessage(await this.serializer.serialize({ id: packet.id, err: shuttingDown(), isDisposed: true }));
    return undefined;
  }

  protected override handleRequest(
    context: BaseRpcContext,
    produce: () => Promise<Observable<unknown>>,
    respond: (data: WritePacket) => Promise<unknown> | void,
  ): void {
    const tracked = trackCall(this.work, 'tcp', produce, respond);
    // Nest returns the processing promise here (its type says void); handleMessage passes it on.
    return super.handleRequest(context, tracked.produce, tracked.respond);
  }

  stopAccepting(): void {
    this.accepting = false;
    // Not a failure to recover from: no re-listen.
    this.isManuallyTerminated = true;
    this.server.close();
  }

  async release(): Promise<void> {
    await Promise.all(
      [...this.openSockets].map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed) return resolve();
            socket.once('close', () => resolve());
            // end() flushes what was written (the last replies) before the connection goes.
            socket.end(() => socket.destroy());
          }),
      ),
    );
  }
}
