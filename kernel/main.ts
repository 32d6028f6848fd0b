#!/usr/bin/env node
/**
 * Entry of the mmulab kernel, as the kernelspec runs it:
 *   node dist/kernel/main.js [--root DIR] CONNECTION_FILE
 */
// First: keep Node from switching the inherited stdout/stderr of the parent to non-blocking.
import './stdio';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { Kernel } from './kernel';
import { readConnectionFile } from './protocol';
import { defaultRoot, logToStderr } from './info';

/**
 * Memory stays flat over a long session (issue 11: RSS within 20 % from cell 100 to 10,000):
 * - Cells compile TypeScript (a new program after declaring cells and every 500 cells, see
 *   kernel/compiler.ts); their garbage is what the heap holds. By
 *   default V8 lets the old generation grow to up to 4x the live size before a full GC (observed:
 *   73 MB live, heap 180-250 MB, RSS 220 -> 440 MB by cell 1,000). 20 % keeps it near 1.2x
 *   (with the kernelspec's flags, kernel/install.ts: RSS 153 -> 185 MB over 2,000 cells at 40 %,
 *   151 -> 169 MB at 20 %).
 * - V8's compilation cache keeps every script source it compiled (~1 KB per cell: each cell is a
 *   new script) for the life of the process. A cell run again compiles in microseconds without it.
 * Both flags are read by V8 at each use, so setting them here, before any cell, is enough.
 */
export function tuneHeapForLongSessions(): void {
  v8.setFlagsFromString('--heap-growing-percent=20');
  v8.setFlagsFromString('--no-compilation-cache');
}

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
  tuneHeapForLongSessions();
  const connection = readConnectionFile(file);
  const kernel = new Kernel({ connection, root, processHandlers: true });
  // Jupyter interrupts with SIGINT (interrupt_mode "signal"). A busy loop is stopped by the signal
  // itself (vm breakOnSigint); otherwise this handler interrupts a hung await.
  process.on('SIGINT', () => kernel.interrupt());
  process.on('SIGTERM', () => void kernel.close().then(() => process.exit(0)));
  await kernel.start();
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    logToStderr(`[mmulab] ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
