/**
 * What the kernel needs before anything else: its names, language_info, the project root and the
 * real stdout/stderr (taken before the runtime routes them to cells). A leaf module, so that the
 * kernel answers kernel_info before the runtime, the display module or TypeScript are loaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const KERNEL_NAME = 'mmulab';
export const DISPLAY_NAME = 'TypeScript (mmulab)';

/** The project root of this installation (`dist/kernel/..` → the package). */
export function defaultRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

export function packageVersion(root: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The TypeScript version that compiles cells: the project's (read without loading the compiler). */
export function typescriptVersion(): string {
  return (require('typescript/package.json') as { version: string }).version;
}

/** language_info of kernel_info_reply; the runner writes the same into notebooks. */
export function languageInfo(): Record<string, unknown> {
  return {
    name: 'typescript',
    version: typescriptVersion(),
    mimetype: 'text/x.typescript',
    file_extension: '.ts',
    pygments_lexer: 'typescript',
    // A string or `{name, version: <integer>}` for clients built on the Rust jupyter-protocol crate
    // (runtimed crates/jupyter-protocol/src/messaging.rs: `enum CodeMirrorMode`); classic Notebook
    // and JupyterLab find TypeScript highlighting by this name.
    codemirror_mode: 'typescript',
    // Required by the same crate (`struct LanguageInfo`): nbconvert's exporter for the language.
    nbconvert_exporter: 'script',
  };
}

export function kernelspecMetadata(): Record<string, unknown> {
  return { name: KERNEL_NAME, display_name: DISPLAY_NAME, language: 'typescript' };
}

export const realStdoutWrite = process.stdout.write.bind(process.stdout);
export const realStderrWrite = process.stderr.write.bind(process.stderr);

/** Writes to the real stderr, bypassing cell capture (the kernel's own log). */
export function logToStderr(message: string): void {
  realStderrWrite(message.endsWith('\n') ? message : message + '\n');
}

/** Writes to the real stdout, bypassing cell capture. */
export function logToStdout(message: string): void {
  realStdoutWrite(message.endsWith('\n') ? message : message + '\n');
}

