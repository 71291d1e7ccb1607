import { connect, type Socket } from 'node:net';

/**
 * Sends a request's head with `Expect: 100-continue` (`head` ends with its last header's CRLF) and
 * resolves once the server has taken the request (it answers 100 Continue as it hands the request
 * over), with the socket, for the test to send the body, or part of it, and leave.
 */
export function requestHandedOver(baseUrl: string, head: string): Promise<Socket> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once('error', reject);
    socket.once('data', (chunk) => (chunk.toString().startsWith('HTTP/1.1 100') ? resolve(socket) : reject(new Error(chunk.toString()))));
    socket.write(`${head}Expect: 100-continue\r\n\r\n`);
  });
}
