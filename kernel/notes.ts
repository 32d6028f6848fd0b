#!/usr/bin/env node
/**
 * `npm run notes`: re-executes the design notes (notebooks/*.ipynb) in-process with the kernel's
 * runtime, writes their outputs back (atomically) and renders a static HTML report.
 *
 *   npm run notes                                    every notebook, then artifacts/report/
 *   npm run notes -- notebooks/x.ipynb -p n=16       one notebook, with a parameter override
 *   npm run notes -- --check                         re-execute; fail with a diff on any change
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { claimSummary, notebookClaims } from './claims';
import { notebookDiff } from './diff';
import { NotebookFormatError, readNotebook, removeStaleTemps, serializeNotebook, writeFileAtomic, type Notebook } from './notebook';
import { writeReport, type ReportEntry } from './report';
import { CellExecutionError, checkParameters, injectParameters, ParameterError, parseParameterArg, ProcessExitError, RunInterrupted, runNotebook, Watchdog } from './runner';
import { defaultRoot, installProcessHandlers, logToStderr, logToStdout, Runtime } from './runtime';

export interface NotesArgs {
  files: string[];
  check: boolean;
  parameters: Record<string, string>;
  resetParameters: boolean;
  allowErrors: boolean;
  timeoutSeconds: number;
  report: string | null;
  root: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: npm run notes -- [NOTEBOOK|DIR ...] [options]
  (no notebook: every notebooks/*.ipynb)
  --check                 re-execute and compare with the files; write nothing; exit 1 on any difference
  -p, --parameter N=V     override parameter N of the cell tagged "parameters" (repeatable; also -p N V)
  --reset-parameters      drop an injected-parameters cell: run with the defaults
  --allow-errors          record cell errors and go on (cells tagged raises-exception always may fail)
  --timeout SECONDS       per-cell timeout (default 600; 0: none)
  --report DIR            where the HTML report goes (default artifacts/report)
  --no-report             do not write the report
  --root DIR              the project root (default: this package)`;

export function parseNotesArgs(argv: string[]): NotesArgs {
  const a: NotesArgs = { files: [], check: false, parameters: {}, resetParameters: false, allowErrors: false, timeoutSeconds: 600, report: 'artifacts/report', root: defaultRoot() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => inline ?? next();
    switch (flag) {
      case '--check':
        a.check = true;
        break;
      case '-p':
      case '--parameter': {
        let v = value();
        if (!v.includes('=')) v = `${v}=${next()}`;
        const [name, val] = parseParameterArg(v);
        a.parameters[name] = val;
        break;
      }
      case '--reset-parameters':
        a.resetParameters = true;
        break;
      case '--allow-errors':
        a.allowErrors = true;
        break;
      case '--timeout': {
        const t = Number(value());
        if (!Number.isFinite(t) || t < 0) throw new UsageError('--timeout needs a number of seconds (0: none)');
        a.timeoutSeconds = t;
        break;
      }
      case '--report':
        a.report = value();
        break;
      case '--no-report':
        a.report = null;
        break;
      case '--root':
        a.root = path.resolve(value());
        break;
      case '-h':
      case '--help':
        throw new UsageError(USAGE);
      default:
        if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
        a.files.push(arg);
    }
  }
  return a;
}

function posix(p: string): string {
  return p.split(path.sep).join('/');
}

/** The notebooks to run: the arguments (files or directories), else notebooks/*.ipynb. */
export function findNotebooks(args: NotesArgs): string[] {
  const list = (dir: string): string[] =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => f.endsWith('.ipynb') && !f.startsWith('.'))
          .sort()
          .map((f) => path.join(dir, f))
      : [];
  if (!args.files.length) return list(path.join(args.root, 'notebooks'));
  const out: string[] = [];
  for (const f of args.files) {
    const p = path.resolve(f);
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) out.push(...list(p));
    else out.push(p);
  }
  return out;
}

function display(root: string, file: string): string {
  const rel = path.relative(root, file);
  return posix(rel.startsWith('..') ? path.relative(process.cwd(), file) : rel);
}

/**
 * The report covers every notebook of the folders this run touched (notebooks/ for a plain run):
 * the ones not run now are shown from their files as they are, so a run over some notebooks
 * keeps the index whole, and a notebook that was deleted loses its page.
 */
function notRun(args: NotesArgs, files: string[], ran: ReportEntry[]): ReportEntry[] {
  const dirs = new Set(files.map((f) => path.dirname(f)));
  if (!files.length) dirs.add(path.join(args.root, 'notebooks'));
  const done = new Set(ran.map((e) => e.path));
  const out: ReportEntry[] = [];
  for (const dir of dirs) {
    for (const file of findNotebooks({ ...args, files: [dir] })) {
      const name = display(args.root, file);
      if (done.has(name)) continue;
      try {
        out.push({ path: name, notebook: readNotebook(file, name) });
      } catch (e) {
        logToStderr(`notes: ${name} is left out of the report: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

export async function notes(argv: string[]): Promise<number> {
  let args: NotesArgs;
  try {
    args = parseNotesArgs(argv);
  } catch (e) {
    logToStderr(e instanceof UsageError ? e.message : `notes: ${(e as Error).message}`);
    return 2;
  }
  const files = findNotebooks(args);
  // A run killed between writing a temporary file and renaming it left that file: remove it.
  const dirs = new Set(files.map((f) => path.dirname(f)));
  if (!args.check && args.report !== null) dirs.add(path.resolve(args.root, args.report));
  for (const d of dirs) for (const t of removeStaleTemps(d)) logToStderr(`notes: removed ${display(args.root, t)}, left by a run killed before its rename`);
  // Read everything first: a malformed notebook or a bad parameter stops the run before anything is written.
  const inputs: { file: string; name: string; text: string; nb: Notebook }[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const name = display(args.root, file);
    try {
      const nb = readNotebook(file, name);
      injectParameters(nb, name, args.parameters, args.resetParameters);
      inputs.push({ file, name, text: fs.readFileSync(file, 'utf8'), nb });
    } catch (e) {
      if (e instanceof NotebookFormatError || e instanceof ParameterError) problems.push(`${e.name}: ${e.message}`);
      else throw e;
    }
  }
  if (problems.length) {
    for (const p of problems) logToStderr(`notes: ${p}`);
    logToStderr('notes: nothing was written');
    return 2;
  }
  if (!inputs.length) logToStderr(`notes: no notebooks${args.files.length ? '' : ' in notebooks/'}`);

  const rt = inputs.length ? await Runtime.create({ root: args.root }) : undefined;
  // A -p value that does not fit its parameter (its type) refuses the whole run before anything is
  // written, like an unknown parameter: no notebook, no report.
  if (rt && Object.keys(args.parameters).length) {
    for (const input of inputs) {
      try {
        await checkParameters(rt, input.nb, input.name, args.parameters, args.resetParameters);
      } catch (e) {
        if (e instanceof ParameterError) problems.push(`${e.name}: ${e.message}`);
        else throw e;
      }
    }
    if (problems.length) {
      for (const p of problems) logToStderr(`notes: ${p}`);
      logToStderr('notes: nothing was written');
      rt.close();
      return 2;
    }
  }
  installProcessHandlers();
  let aborted = false;
  const watchdog = args.timeoutSeconds > 0 && rt ? new Watchdog() : undefined;
  const onSigint = (): void => {
    if (watchdog?.fired) rt?.interrupt();
    else {
      aborted = true;
      if (rt?.isBusy) rt.interrupt();
    }
  };
  process.on('SIGINT', onSigint);
  // The last word if the process ends while a notebook runs (whatever a cell did that the
  // runner's guard did not catch): exit 0 with nothing written would pass --check silently.
  let running: string | undefined;
  const onExit = (code: number): void => {
    if (running === undefined) return;
    logToStderr(`notes: ${running}: the process ended while the notebook ran (exit code ${code}); nothing was written`);
    if (code === 0) process.exitCode = 1;
  };
  process.on('exit', onExit);
  let status = 0;
  const report: ReportEntry[] = [];
  try {
    for (const input of inputs) {
      const t0 = process.hrtime.bigint();
      running = input.name;
      try {
        const r = await runNotebook(rt!, input.nb, input.name, {
          parameters: args.parameters,
          resetParameters: args.resetParameters,
          allowErrors: args.allowErrors,
          timeoutMs: args.timeoutSeconds * 1000,
          ...(watchdog ? { watchdog } : {}),
          aborted: () => aborted,
        });
        const ms = Number((process.hrtime.bigint() - t0) / 1_000_000n);
        const text = serializeNotebook(r.notebook);
        const errs = r.errors.length ? `, ${r.errors.length} error${r.errors.length > 1 ? 's' : ''} recorded` : '';
        const claims = notebookClaims(r.notebook);
        const counted = `, ${claimSummary(claims)}`;
        // A claim that failed in a cell allowed to fail (--allow-errors) still fails the run.
        if (claims.some((c) => !c.holds)) status = 1;
        if (args.check) {
          const diff = notebookDiff(input.text, input.nb, r.notebook);
          if (diff) {
            status = 1;
            logToStdout(`--- ${input.name} (committed)\n+++ ${input.name} (re-executed)\n${diff}\n`);
            logToStderr(`notes: ${input.name}: DIFFERS (${r.executed} cells${counted}, ${ms} ms)`);
          } else logToStderr(`notes: ${input.name}: up to date (${r.executed} cells${counted}, ${ms} ms)`);
        } else {
          const changed = text !== input.text;
          if (changed) writeFileAtomic(input.file, text);
          logToStderr(`notes: ${input.name}: ${changed ? 'written' : 'unchanged'} (${r.executed} cells${errs}${counted}, ${ms} ms)`);
        }
        report.push({ path: input.name, notebook: r.notebook });
      } catch (e) {
        if (e instanceof RunInterrupted) {
          logToStderr(`notes: interrupted while running ${input.name}; it was not written`);
          return 130;
        }
        status = 1;
        if (e instanceof CellExecutionError && e.partial) {
          const claims = notebookClaims(e.partial);
          const failed = claims.filter((c) => !c.holds).map((c) => `\n  claim failed (cell ${c.cell}): ${c.text} [${c.values}]`);
          logToStderr(`notes: ${input.name}: FAILED, not written (${claimSummary(claims)} before the failure)${failed.join('')}\n${e.message}`);
          report.push({ path: input.name, notebook: e.partial, failed: true });
        } else {
          if (e instanceof CellExecutionError || e instanceof ParameterError || e instanceof ProcessExitError) logToStderr(`notes: ${input.name}: FAILED, not written\n${e.message}`);
          else logToStderr(`notes: ${input.name}: FAILED, not written: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
          report.push({ path: input.name, notebook: input.nb, failed: true });
        }
      } finally {
        running = undefined;
      }
    }
    if (!args.check && args.report !== null) {
      const dir = path.resolve(args.root, args.report);
      writeReport(dir, [...report, ...notRun(args, files, report)]);
      logToStderr(`notes: report in ${display(args.root, path.join(dir, 'index.html'))}`);
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('exit', onExit);
    await watchdog?.close();
    rt?.close();
  }
  return status;
}

if (require.main === module) {
  notes(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      logToStderr(`notes: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
