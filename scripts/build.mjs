// Compiles src/ to dist/ (tsc -p tsconfig.build.json) when a source is newer than the last
// build, copies the plain JavaScript files (the liveness thread) beside the output and bundles
// zod into dist/vendor/zod.js (bundleZod), so
// bin/bearmon runs JavaScript instead of compiling TypeScript at every start. Idempotent.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.built');

/**
 * What dist/ is built from: the sources, and the lock file — dist/vendor/zod.js is a copy of
 * the installed zod, so a lock file that changes (an upgrade of zod) must rebuild it too.
 */
function newestInput() {
  let lock = 0;
  try {
    lock = statSync(join(root, 'package-lock.json')).mtimeMs;
  } catch {
    // no lock file: the sources alone
  }
  return Math.max(newestSource(), lock);
}

export function newestSource(dir = src) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function builtAt() {
  try {
    return statSync(stamp).mtimeMs;
  } catch {
    return 0;
  }
}

function copyPlainJs(dir = src) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) copyPlainJs(path);
    else if (entry.name.endsWith('.mjs')) {
      const target = join(dist, relative(src, path));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(path, target);
    }
  }
}

/**
 * zod is 95 ES modules (60 of them locales) that every command reading the configuration
 * loads one by one: one file of them instead, written by esbuild (tsx's own dependency)
 * beside the output, and every `from 'zod'` of dist/ pointed at it (start-up of `bearmon
 * check list`). Without esbuild, or when bundling fails, dist/ imports zod from node_modules.
 */
async function bundleZod() {
  const target = join(dist, 'vendor', 'zod.js');
  try {
    // Resolved from tsx, whose dependency it is: npm may nest it under tsx rather than hoist it.
    const fromRoot = createRequire(join(root, 'package.json'));
    const esbuild = createRequire(fromRoot.resolve('tsx/package.json')).resolve('esbuild');
    const { build } = await import(pathToFileURL(esbuild).href);
    await build({
      stdin: { contents: "export * from 'zod';\nexport { default } from 'zod';\n", resolveDir: root, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: target,
      logLevel: 'error',
    });
  } catch (err) {
    process.stderr.write(`bearmon: zod left unbundled (${err.message.split('\n')[0]})\n`);
    rmSync(target, { force: true });
    return;
  }
  pointAt(dist, target);
}

/** Rewrites `from 'zod'` in every compiled file under `dir` to the bundle. */
function pointAt(dir, bundle) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== dirname(bundle)) pointAt(path, bundle);
    } else if (entry.name.endsWith('.js')) {
      const text = readFileSync(path, 'utf8');
      if (!text.includes("from 'zod'")) continue;
      const specifier = relative(dirname(path), bundle).split(sep).join('/');
      writeFileSync(path, text.replaceAll("from 'zod'", `from '${specifier.startsWith('.') ? specifier : `./${specifier}`}'`));
    }
  }
}

const sources = newestInput();
if (process.argv.includes('--force') || builtAt() < sources) {
  process.stderr.write('bearmon: building dist/ (tsc)\n');
  // No stamp while dist/ is being written: bin/bearmon runs the sources meanwhile.
  rmSync(stamp, { force: true });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  copyPlainJs();
  await bundleZod();
  writeFileSync(stamp, new Date().toISOString());
  // Dated as the newest source compiled: one saved during the build makes the next run build again.
  utimesSync(stamp, new Date(Math.ceil(sources)), new Date(Math.ceil(sources)));
}
