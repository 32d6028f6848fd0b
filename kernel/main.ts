#!/usr/bin/env node
/**
 * Entry of the mmulab kernel, as the kernelspec runs it:
 *   node dist/kernel/main.js [--root DIR] CONNECTION_FILE
 */
// First: keep Node from switching the inherited stdout/stderr of the parent to non-blocking.
import './stdio';
import * as path from 'node:path';
import { Kernel } from './kernel';
import { readConnectionFile } from './protocol';
import { defaultRoot, installProcessHandlers, logToStderr } from './runtime';

function usage(): never {
  logToStderr('usage: node dist/kernel/main.js [--root DIR] CONNECTION_FILE');
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  let root = defaultRoot();
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') root = path.resolve(argv[++i] ?? usage());
    else if (a.startsWith('--root=')) root = path.resolve(a.slice('--root='.length));
    else if (a.startsWith('-')) usage();
    else if (file === undefined) file = a;
    else usage();
  }
  if (!file) usage();
  const connection = readConnectionFile(file);
  const kernel = new Kernel({ connection, root });
  // Jupyter interrupts with SIGINT (interrupt_mode "signal"). A busy loop is stopped by the signal
  // itself (vm breakOnSigint); otherwise this handler interrupts a hung await.
  process.on('SIGINT', () => kernel.interrupt());
  process.on('SIGTERM', () => void kernel.close().then(() => process.exit(0)));
  installProcessHandlers();
  await kernel.start();
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    logToStderr(`[mmulab] ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
