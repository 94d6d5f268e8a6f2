// The packages as a user gets them. `pnpm pack` packs every published package (its prepack
// compiles dist/), each tarball's manifest and files are checked, then format + kernels + runtime
// are installed with npm into a temporary project outside the workspace (offline: they need nothing
// from the registry). There a model runs under plain `node` (no loader, no flags), a consumer
// type-checks against the installed .d.ts files, and esbuild bundles a page that headless Chromium
// runs. Every result must equal the workspace runtime's on the same model and inputs.
// Chromium missing: the browser test is skipped with the reason (.ci/browser-deps.sh installs it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type BrowserContext } from 'playwright-core';
import { availableBuilds } from '@bitswitch/kernels';
import { classifyAll } from './app/classify.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const app = fileURLToPath(new URL('./app/', import.meta.url));
const MODEL = join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw');
const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * The published packages: the workspace folders whose package.json has publishConfig, dependencies
 * before their dependents (a prepack's tsc -b builds the packages it references).
 */
function publishedPackages(): string[] {
  const block = /^packages:\n((?:[ \t]+.*\n)+)/m.exec(readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8'));
  assert.ok(block, 'pnpm-workspace.yaml: no packages list');
  const folders = [...block[1].matchAll(/^\s+-\s+['"]?([\w./-]+)['"]?\s*$/gm)].map((m) => m[1]);
  const manifests = new Map<string, Record<string, any>>();
  for (const f of folders) {
    const m = JSON.parse(readFileSync(join(root, f, 'package.json'), 'utf8'));
    if (m.publishConfig) manifests.set(f, m);
  }
  const byName = new Map([...manifests].map(([f, m]) => [m.name as string, f]));
  const order: string[] = [];
  const visit = (f: string) => {
    if (order.includes(f)) return;
    for (const dep of Object.keys(manifests.get(f)!.dependencies ?? {})) if (byName.has(dep)) visit(byName.get(dep)!);
    order.push(f);
  };
  [...manifests.keys()].forEach(visit);
  return order;
}

const PACKAGES = publishedPackages();
/** What the temporary project installs: the runtime and what it depends on (nothing from the registry). */
const INSTALLED = ['format', 'kernels', 'runtime'];

/**
 * Files outside its package that a compiled module opens by URL, as paths from the package folder,
 * with the reason: `bitswitch demo` starts from the repository's FP32 MNIST model (1.2 MB), so that
 * command runs in a clone only.
 */
const WORKSPACE_ONLY_FILES: Record<string, string> = {
  'cli:../models/mnist-cnn-fp32.json': '`bitswitch demo` trains from the repository\'s models/ (a clone only)',
};

/** The environment of a user's shell: none of the workspace's source condition or test settings. */
function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('npm_') || k.startsWith('PNPM_')) delete env[k];
  return env;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { cwd, env: userEnv(), encoding: 'utf8', maxBuffer: 64 << 20, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else res(stdout);
    });
  });
}

function filesUnder(dir: string, out: string[] = [], base = dir): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) filesUnder(p, out, base);
    else out.push(relative(base, p));
  }
  return out;
}

interface Packed { tarball: string; unpacked: string; manifest: Record<string, any>; files: Set<string> }

const work = mkdtempSync(join(tmpdir(), 'bitswitch-packaging-'));
const packed = new Map<string, Packed>();
const timings: string[] = [];
let project = '';

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try { return await f(); } finally { timings.push(`${label} ${((Date.now() - t0) / 1000).toFixed(1)} s`); }
}

test.before(async () => {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  // one at a time, in dependency order: each prepack is a `tsc -b` that also builds the packages it references
  await timed(`pnpm pack ×${PACKAGES.length}`, async () => {
    for (const p of PACKAGES) {
      const dest = join(tarballs, p);
      mkdirSync(dest, { recursive: true });
      await run('pnpm', ['pack', '--silent', '--pack-destination', dest], join(root, p), 300_000);
      const [tgz] = readdirSync(dest).filter((f) => f.endsWith('.tgz'));
      assert.ok(tgz, `pnpm pack wrote no tarball for ${p}`);
      const unpacked = join(work, 'unpacked', p);
      mkdirSync(unpacked, { recursive: true });
      await run('tar', ['-xzf', join(dest, tgz), '-C', unpacked], work);
      const pkgDir = join(unpacked, 'package');
      packed.set(p, {
        tarball: join(dest, tgz), unpacked: pkgDir,
        manifest: JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')), files: new Set(filesUnder(pkgDir)),
      });
    }
  });
  project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'bitswitch-packaging-check', private: true, type: 'module' }, null, 2));
  cpSync(app, project, { recursive: true });
  copyFileSync(MODEL, join(project, 'model.bsw'));
  await timed('npm install', () => run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', ...INSTALLED.map((p) => packed.get(p)!.tarball)], project));
});

test.after(() => {
  console.log(`  timings: ${timings.join(', ')}`);
  rmSync(work, { recursive: true, force: true });
});

test('the published packages: the ones a user needs, and every workspace package they depend on', () => {
  for (const p of [...INSTALLED, 'search', 'trainer', 'cli']) assert.ok(PACKAGES.includes(p), `${p} has no publishConfig`);
  for (const p of PACKAGES) {
    for (const dep of Object.keys(packed.get(p)!.manifest.dependencies ?? {})) {
      if (dep.startsWith('@bitswitch/')) assert.ok(PACKAGES.some((q) => packed.get(q)!.manifest.name === dep), `${p} depends on ${dep}, which is not published (give it exports, files, publishConfig and a tsconfig.build.json like runtime/)`);
    }
  }
});

test('every tarball: real version ranges, exports with types and default, only dist/ plus declared data', () => {
  for (const p of PACKAGES) {
    const { manifest, files } = packed.get(p)!;
    const ours = JSON.parse(readFileSync(join(root, p, 'package.json'), 'utf8'));
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const [dep, range] of Object.entries<string>(manifest[field] ?? {})) {
        assert.not.match(range, /^workspace:/, `${p} ${field}.${dep}: ${range}`);
        if (dep.startsWith('@bitswitch/')) assert.is(range, `^${ours.version}`, `${p} ${field}.${dep}`);
      }
    }
    // the published map is the workspace's without the source condition: entries that exist only
    // as sources (the demo's build script) are dropped, plain paths (package.json) stay as they are
    const expected = Object.fromEntries(Object.entries<string | Record<string, string>>(ours.exports)
      .filter(([, v]) => typeof v === 'string' || v.default !== undefined)
      .map(([k, v]) => [k, typeof v === 'string' ? v : { types: v.types, default: v.default }]));
    assert.equal(manifest.exports, expected, `${p}: published exports`);
    // a package of page assets (the demo) exports only plain paths and ships a bundle without types
    const library = Object.values(manifest.exports).some((v) => typeof v !== 'string');
    for (const [key, target] of Object.entries<string | Record<string, string>>(manifest.exports)) {
      if (typeof target === 'string') { assert.ok(files.has(target.slice(2)), `${p} exports[${key}] → ${target} is not in the tarball`); continue; }
      assert.equal(Object.keys(target), ['types', 'default'], `${p} exports[${key}]: conditions`);
      if (key.includes('*')) continue;
      for (const file of Object.values(target)) assert.ok(files.has(file.slice(2)), `${p} exports[${key}] → ${file} is not in the tarball`);
    }
    for (const f of files) {
      assert.ok(!f.endsWith('.ts') || f.endsWith('.d.ts'), `${p}: TypeScript source ${f} in the tarball`);
      if (library && f.endsWith('.js') && f.startsWith('dist/')) assert.ok(files.has(f.replace(/\.js$/, '.d.ts')), `${p}: ${f} has no .d.ts`);
    }
    assert.ok(!files.has('dist/.tsbuildinfo'), `${p}: build info in the tarball`);
    if (manifest.bin) for (const b of Object.values<string>(manifest.bin)) assert.ok(files.has(b.replace(/^\.\//, '')), `${p}: bin ${b} missing`);
  }
  assert.ok(packed.get('kernels')!.files.has('dist/generated/wasm.js'), 'kernels: the embedded wasm builds');
});

/** Module specifiers a compiled file imports (static, dynamic, export-from) and the file URLs it opens. */
function references(code: string): { specifiers: string[]; urls: string[] } {
  const specifiers = [...code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*(?:\/\*[^*]*\*\/\s*)?|^\s*import\s+)(['"])([^'"]+)\1/gm)].map((m) => m[2]);
  const urls = [...code.matchAll(/new URL\(\s*(['"`])(\.{1,2}\/[^'"`$]+)\1\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[2]);
  return { specifiers, urls };
}

test('every compiled module imports only files in its tarball, declared dependencies and Node builtins', () => {
  const builtins = new Set(builtinModules);
  let checked = 0;
  for (const p of PACKAGES) {
    const { manifest, files, unpacked } = packed.get(p)!;
    const declared = new Set([manifest.name, ...Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies })]);
    for (const f of files) {
      if (!f.endsWith('.js') && !f.endsWith('.mjs')) continue;
      const { specifiers, urls } = references(readFileSync(join(unpacked, f), 'utf8'));
      for (const s of specifiers) {
        if (s.startsWith('.')) {
          const target = relative(unpacked, resolve(unpacked, dirname(f), s));
          assert.ok(files.has(target), `${p}/${f} imports ${s}: ${target} is not in the tarball`);
        } else if (s.startsWith('node:') || builtins.has(s)) {
          assert.ok(builtins.has(s.replace(/^node:/, '')), `${p}/${f} imports unknown builtin ${s}`);
        } else {
          const pkg = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0];
          assert.ok(declared.has(pkg), `${p}/${f} imports ${s}, but ${pkg} is not among its dependencies`);
        }
        checked++;
      }
      for (const u of urls) {
        const target = relative(unpacked, resolve(unpacked, dirname(f), u));
        if (files.has(target) || target === 'package.json') continue;
        assert.ok(WORKSPACE_ONLY_FILES[`${p}:${target}`], `${p}/${f} opens ${u}: ${target} is not in the tarball`);
      }
    }
  }
  assert.ok(checked > 100, `only ${checked} import specifiers found: the pattern no longer matches tsc's output`);
});

test('every worker module the trainer starts by URL (moduleUrl) is in its tarball as JavaScript', () => {
  const { files } = packed.get('trainer')!;
  const js = [...files].filter((f) => f.endsWith('.js'));
  const code = new Map(js.map((f) => [f, readFileSync(join(packed.get('trainer')!.unpacked, f), 'utf8')]));
  // moduleUrl(name, import.meta.url) resolves `./name.js` next to the module that calls it
  const targets = js.flatMap((f) => [...code.get(f)!.matchAll(/moduleUrl\((['"])([\w./-]+)\1, import\.meta\.url\)/g)].map((m) => join(dirname(f), `${m[2]}.js`)));
  assert.ok(targets.length >= 2, `worker modules found: ${targets.join(', ')}`);
  for (const target of targets) assert.ok(files.has(target), `${target} is not in the trainer tarball`);
});

test('plain node in a project outside the workspace: same logits as the workspace runtime, best build, no flags', async () => {
  const out = await timed('node run', () => run(process.execPath, ['node.js', 'model.bsw'], project));
  const got = JSON.parse(out.trim().split('\n').at(-1)!);
  const want = await classifyAll(MODEL);
  // the test runner starts this process with the relaxed-SIMD flag; the installed runtime set it itself
  assert.is(availableBuilds()[0], 'relaxed');
  assert.is(got.backend, 'kernels-relaxed');
  assert.ok(['engine', 'v8-flag'].includes(got.relaxedSimd), got.relaxedSimd);
  assert.equal(Object.keys(got.bits), Object.keys(want.bits));
  for (const [bit, r] of Object.entries<{ predictions: number[]; logits: number[] }>(want.bits)) {
    assert.equal(got.bits[bit].predictions, r.predictions, `w${bit}: predictions`);
    assert.equal(got.bits[bit].logits, r.logits, `w${bit}: logits`);
  }
  assert.is(want.backend, got.backend);
});

test('the bitswitch bin runs the compiled CLI with plain node (no tsx, no flags)', async () => {
  const bin = join(root, 'cli/bin/bitswitch.mjs');
  const help = await run(process.execPath, [bin, '--help'], project);
  // --help imports every command's module: the trainer's and the search's compiled dist/ too
  for (const command of ['inspect', 'demo', 'train', 'eval', 'supernet', 'sensitivity', 'search', 'pareto']) {
    assert.match(help, new RegExp(`^\\s+${command} `, 'm'), `--help lists ${command}`);
  }
  const inspect = await run(process.execPath, [bin, 'inspect', 'model.bsw'], project);
  assert.match(inspect, /header checksum: ok/);
});

test('a TypeScript consumer type-checks against the installed .d.ts files (no @types/node)', async () => {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  await timed('tsc consumer', () => run(process.execPath, [tsc, '-p', 'tsconfig.json'], project));
});

function serve(dir: string): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
  const server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
    const path = join(dir, name);
    if (name.includes('..') || !existsSync(path)) { res.writeHead(404).end(); return; }
    res.writeHead(200, {
      'content-type': types[extname(path)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
    }).end(readFileSync(path));
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const browserTest = existsSync(CHROMIUM) ? test : test.skip;
if (!existsSync(CHROMIUM)) console.log(`  skipped the browser test: ${CHROMIUM} is missing (install Debian's chromium: .ci/browser-deps.sh)`);

browserTest('esbuild bundles a page from the installed packages; Chromium runs it with the Node results', async () => {
  await timed('esbuild', () => build({
    entryPoints: [join(project, 'page.js')], outfile: join(project, 'page.bundle.js'), absWorkingDir: project,
    bundle: true, format: 'esm', platform: 'browser', logLevel: 'error',
  }));
  const bundle = readFileSync(join(project, 'page.bundle.js'), 'utf8');
  assert.not.match(bundle, /bitswitch-source|\/src\/[a-z-]+\.ts/, 'the bundle holds workspace sources');
  const want = await classifyAll(MODEL);
  const server = await serve(project);
  const profile = mkdtempSync(join(tmpdir(), 'bitswitch-chromium-'));
  let context: BrowserContext | undefined;
  try {
    await timed('chromium', async () => {
      context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/index.html`);
      await page.waitForFunction(() => document.title !== 'loading', null, { timeout: 60_000 });
      const failure = await page.evaluate(() => (window as unknown as { packagingError?: string }).packagingError);
      assert.is(failure, undefined, failure);
      const got = await page.evaluate(() => (window as unknown as { packagingResult: any }).packagingResult);
      assert.is(got.backend, 'kernels-relaxed');
      assert.is(got.relaxedSimd, 'engine');
      for (const [bit, r] of Object.entries<{ predictions: number[]; logits: number[] }>(want.bits)) {
        assert.equal(got.bits[bit].predictions, r.predictions, `chromium w${bit}: predictions`);
        const diff = got.bits[bit].logits.reduce((d: number, v: number, i: number) => Math.max(d, Math.abs(v - r.logits[i])), 0);
        assert.ok(diff <= 1e-5, `chromium w${bit}: max logit difference ${diff}`);
      }
      assert.equal(errors, []);
    });
  } finally {
    await context?.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test.run();
