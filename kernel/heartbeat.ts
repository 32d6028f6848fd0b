/**
 * The heartbeat channel on its own thread (a worker), as ipykernel runs it: the kernel's main
 * thread is blocked for seconds while TypeScript loads and builds its first program, and for as
 * long as a busy cell runs; a front end's ping must still be echoed meanwhile (the probe pings
 * right after kernel_info; jupyter_client's heartbeat counts a silent second as a failure).
 *
 * The parent posts any message to stop it: the socket closes and the worker ends by itself
 * (zeromq aborts the process when a worker is terminated with a socket open).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type * as Zmq from 'zeromq';

export interface HeartbeatData {
  endpoint: string;
}

async function serve(port: NonNullable<typeof parentPort>, data: HeartbeatData): Promise<void> {
  const zmq = require('zeromq') as typeof Zmq;
  const socket = new zmq.Reply();
  socket.linger = 0;
  port.once('message', () => socket.close());
  try {
    await socket.bind(data.endpoint);
    port.postMessage({ bound: true });
    for await (const frames of socket) await socket.send(frames);
  } catch (e) {
    if (!socket.closed) port.postMessage({ error: e instanceof Error ? e.message : String(e) });
  } finally {
    if (!socket.closed) socket.close();
    port.close();
  }
}

if (parentPort) void serve(parentPort, workerData as HeartbeatData);
