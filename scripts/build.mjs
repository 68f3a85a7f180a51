// Compiles src/ to dist/ (tsc -p tsconfig.build.json) when a source is newer than the last
// build, and copies the plain JavaScript files (the liveness thread) beside the output, so
// bin/bearmon runs JavaScript instead of compiling TypeScript at every start. Idempotent.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.built');

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

const sources = newestSource();
if (process.argv.includes('--force') || builtAt() < sources) {
  process.stderr.write('bearmon: building dist/ (tsc)\n');
  // No stamp while dist/ is being written: bin/bearmon runs the sources meanwhile.
  rmSync(stamp, { force: true });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  copyPlainJs();
  writeFileSync(stamp, new Date().toISOString());
  // Dated as the newest source compiled: one saved during the build makes the next run build again.
  utimesSync(stamp, new Date(Math.ceil(sources)), new Date(Math.ceil(sources)));
}
