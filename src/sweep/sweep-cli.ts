/**
 * `npm run sweep -- run --spec spec.json [--shard K/N] [--workers W] --out part.arrow`
 * `npm run sweep -- merge --spec spec.json --out all.arrow part-1.arrow part-2.arrow …`
 *
 * The command a batch system's job array calls: every array task runs `run` with its own shard of
 * the same spec, and one last task merges the parts into the table a single run would give.
 * Progress goes to stderr; a bad argument is a typed error naming it, and nothing is written.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { MmulabError } from '../errors';
import { SweepError } from './sweep-error';
import { sweep } from './sweep';
import type { SweepSpec } from './sweep-jobs';
import { loadSweep, mergeSweeps, saveSweep } from './sweep-io';

export interface CliIo {
  err: (line: string) => void;
  out: (line: string) => void;
}

const USAGE = `usage:
  sweep run   --spec spec.json [--shard K/N] [--workers W] --out part.arrow
  sweep merge --spec spec.json --out all.arrow part.arrow…`;

function readSpec(file: string | undefined): SweepSpec {
  if (file === undefined) throw new SweepError('sweep-cli-spec', '--spec names a JSON file holding { configs, workloads, seeds }', 'missing');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new SweepError('sweep-cli-spec', '--spec names a readable JSON file', file);
  }
  try {
    return JSON.parse(text) as SweepSpec;
  } catch (e) {
    throw new SweepError('sweep-cli-spec', `--spec is not JSON: ${(e as Error).message}`, file);
  }
}

function needOut(out: string | undefined): string {
  if (out === undefined || out === '') throw new SweepError('sweep-cli-out', '--out names the Arrow file to write', String(out));
  return out;
}

/** Runs one command; resolves to the process exit code (0 ok, 2 bad input). */
export async function sweepCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { spec: { type: 'string' }, shard: { type: 'string' }, workers: { type: 'string' }, out: { type: 'string' } },
    });
    const [cmd, ...files] = positionals;
    if (cmd === 'run') {
      if (files.length > 0) throw new SweepError('sweep-cli-args', 'run takes no file arguments', files.join(' '));
      const spec = readSpec(values.spec);
      const out = needOut(values.out);
      const workers = values.workers === undefined ? undefined : Number(values.workers);
      let shown = -1;
      const table = await sweep({
        ...spec,
        workers,
        shard: values.shard,
        onProgress: (d, t) => {
          const pct = Math.floor((100 * d) / t);
          if (pct >= shown + 10 || d === t) {
            shown = pct;
            io.err(`sweep${values.shard ? ` shard ${values.shard}` : ''}: ${d}/${t} jobs`);
          }
        },
      });
      saveSweep(table, out);
      io.out(`${table.numRows()} rows → ${out}`);
      return 0;
    }
    if (cmd === 'merge') {
      if (files.length === 0) throw new SweepError('sweep-cli-args', 'merge needs the part files to merge', '[]');
      const spec = values.spec === undefined ? undefined : readSpec(values.spec);
      const out = needOut(values.out);
      const parts = files.map((f) => {
        try {
          return loadSweep(f);
        } catch (e) {
          throw new SweepError('sweep-cli-part', `a part is not a readable Arrow sweep table: ${(e as Error).message}`, f);
        }
      });
      const table = mergeSweeps(parts, { spec });
      saveSweep(table, out);
      io.out(`${parts.length} parts, ${table.numRows()} rows → ${out}`);
      return 0;
    }
    throw new SweepError('sweep-cli-command', `the command is run or merge\n${USAGE}`, String(cmd));
  } catch (e) {
    if (e instanceof MmulabError) {
      io.err(`${e.name}: ${e.message}`);
      return 2;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  void sweepCli(process.argv.slice(2), { err: (l) => process.stderr.write(`${l}\n`), out: (l) => process.stdout.write(`${l}\n`) }).then((code) => {
    process.exitCode = code;
  });
}
