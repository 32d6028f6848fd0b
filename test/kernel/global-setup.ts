/**
 * Global setup of the kernel tests: builds the kernel (so tests run the current sources) and
 * installs what the tests drive when it is missing: Debian's Jupyter (nbconvert, nbclient, the
 * classic notebook) and Chromium. Needs root and the Debian registry; says what to do otherwise.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const JUPYTER_PACKAGES = ['jupyter-client', 'python3-nbclient', 'jupyter-nbconvert', 'python3-ipykernel', 'jupyter-notebook'];

function log(msg: string): void {
  process.stderr.write(`[kernel tests] ${msg}\n`);
}

function hasJupyter(): boolean {
  if (!fs.existsSync('/usr/bin/jupyter') || !fs.existsSync('/usr/bin/python3')) return false;
  const r = spawnSync('/usr/bin/python3', ['-c', 'import jupyter_client, nbclient, nbconvert, nbformat, notebook, ipykernel'], { stdio: 'ignore' });
  return r.status === 0;
}

function aptInstall(packages: string[], recommends: boolean): void {
  if (process.getuid?.() !== 0) throw new Error(`missing ${packages.join(' ')}: install them with apt-get (as root) to run the kernel tests`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log(`apt-get install ${packages.join(' ')}`);
  execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', ...(recommends ? [] : ['--no-install-recommends']), ...packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
}

export function setup(): () => void {
  if (!hasJupyter()) aptInstall(JUPYTER_PACKAGES, false);
  if (!fs.existsSync('/usr/bin/chromium')) aptInstall(['chromium'], true);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // Always the whole build: the kernel loads the engine from dist/, and a stale engine build would
  // make the kernel tests (and the design-notes check) run yesterday's engine.
  log('building the engine and the kernel (npm run build)');
  execFileSync(npm, ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.mkdirSync(path.join(ROOT, 'artifacts'), { recursive: true });
  // One temporary folder for the run (Jupyter dirs, notebook copies), removed at the end.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmulab-tests-'));
  process.env.MMULAB_TEST_TMP = tmp;
  // Tests never write into the project's report (`npm run notes` owns it): fail the run if one did.
  const report = path.join(ROOT, 'artifacts', 'report');
  const before = reportState(report);
  return () => {
    fs.rmSync(tmp, { recursive: true, force: true });
    const after = reportState(report);
    if (after !== before) throw new Error(`a kernel test wrote into ${report}: tests must write their reports into temporary folders`);
  };
}

/** Names, sizes and modification times of the report's files. */
function reportState(dir: string): string {
  if (!fs.existsSync(dir)) return '';
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => {
      const st = fs.statSync(path.join(dir, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('\n');
}
