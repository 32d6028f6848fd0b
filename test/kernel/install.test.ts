/** `npm run kernel:install`: a kernelspec with absolute paths, written without Jupyter. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInstallArgs, userDataDir } from '../../kernel/install';
import { NODE, ROOT, run, tempDir } from './helpers';

const INSTALL = path.join(ROOT, 'dist', 'kernel', 'install.js');

function readSpec(dataDir: string): { argv: string[]; env: Record<string, string>; display_name: string; language: string; interrupt_mode: string } {
  return JSON.parse(fs.readFileSync(path.join(dataDir, 'kernels', 'mmulab', 'kernel.json'), 'utf8')) as never;
}

describe('kernelspec install', () => {
  it('writes kernel.json with absolute paths under --prefix', async () => {
    const prefix = tempDir('prefix');
    const r = await run(NODE, [INSTALL, '--prefix', prefix]);
    expect(r.code).toBe(0);
    const spec = readSpec(path.join(prefix, 'share', 'jupyter'));
    expect(spec).toMatchObject({ display_name: 'TypeScript (mmulab)', language: 'typescript', interrupt_mode: 'signal' });
    expect(spec.argv).toEqual([NODE, '--max-semi-space-size=2', '--no-concurrent-recompilation', path.join(ROOT, 'dist', 'kernel', 'main.js'), '--root', ROOT, '{connection_file}']);
    expect(spec.env).toEqual({ MALLOC_ARENA_MAX: '2' });
    for (const p of [spec.argv[0]!, spec.argv[3]!]) {
      expect(path.isAbsolute(p)).toBe(true);
      expect(fs.existsSync(p)).toBe(true);
    }
  });

  it('defaults to the user Jupyter data directory ($JUPYTER_DATA_DIR, else ~/.local/share/jupyter)', async () => {
    const dataDir = tempDir('data');
    expect((await run(NODE, [INSTALL], { env: { ...process.env, JUPYTER_DATA_DIR: dataDir } })).code).toBe(0);
    expect(readSpec(dataDir).argv.at(-1)).toBe('{connection_file}');
    const home = tempDir('home');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env.JUPYTER_DATA_DIR;
    delete env.XDG_DATA_HOME;
    expect((await run(NODE, [INSTALL, '--user'], { env })).code).toBe(0);
    expect(readSpec(path.join(home, '.local', 'share', 'jupyter')).language).toBe('typescript');
  });

  it('runs as `npm run kernel:install -- --prefix DIR`', async () => {
    const prefix = tempDir('npm-prefix');
    const r = await run('npm', ['run', '--silent', 'kernel:install', '--', '--prefix', prefix], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(path.join(prefix, 'share', 'jupyter', 'kernels', 'mmulab'));
  });

  it('knows the data directory of each platform and refuses unknown options', () => {
    expect(userDataDir({}, 'linux', '/home/u')).toBe('/home/u/.local/share/jupyter');
    expect(userDataDir({ XDG_DATA_HOME: '/x' }, 'linux', '/home/u')).toBe('/x/jupyter');
    expect(userDataDir({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Jupyter');
    expect(userDataDir({ JUPYTER_DATA_DIR: '/j' }, 'darwin', '/Users/u')).toBe('/j');
    expect(() => parseInstallArgs(['--sys-prefix'])).toThrow(/unknown option --sys-prefix/);
  });
});
