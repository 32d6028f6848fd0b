/**
 * The kernel's stdout and stderr, without side effects on the process that started it.
 *
 * A kernel inherits its stdout and stderr from the Jupyter server (or client) that launched it:
 * the same open files. Node's own process.stdout/stderr put such a pipe into non-blocking mode,
 * and that flag belongs to the shared file, so the parent's next large write can fail with EAGAIN
 * (observed: jupyter_client's output truncated). These streams write synchronously to the file
 * descriptors instead and never change their flags. Import this module before anything else.
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';

function syncStream(fd: 1 | 2): Writable {
  const w = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      try {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off);
      } catch {
        // The parent closed its end: drop output rather than fail the kernel.
      }
      callback();
    },
  });
  return Object.assign(w, { fd, isTTY: false });
}

export function installSyncStdio(): void {
  for (const [name, fd] of [['stdout', 1], ['stderr', 2]] as const) {
    let isFifoOrSocket = false;
    try {
      const st = fs.fstatSync(fd);
      isFifoOrSocket = st.isFIFO() || st.isSocket();
    } catch {
      continue;
    }
    if (!isFifoOrSocket) continue;
    const stream = syncStream(fd);
    Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => stream });
  }
}

installSyncStdio();
