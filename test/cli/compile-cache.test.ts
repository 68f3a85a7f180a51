import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBearmon } from '../helpers/bearmon.ts';

// bin/bearmon turns on Node's module compile cache where Node has one (>= 22.1): a cache
// directory that is missing, unusable or unwritable must change nothing the user sees.
describe('bin/bearmon compile cache', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bearmon-cache-'));
    await writeFile(join(dir, 'a-file'), '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const version = (async () => runBearmon(['--version']))();

  it.each([
    ['a directory not made yet', () => join(dir, 'new', 'cache')],
    ['a path under a regular file (cannot be made)', () => join(dir, 'a-file', 'cache')],
    ['a path under /proc (not writable)', () => '/proc/bearmon-cache'],
  ])('with NODE_COMPILE_CACHE at %s, --version and a usage error answer as without it', async (_, cache) => {
    const plain = await version;
    expect(plain.code).toBe(0);
    const cached = await runBearmon(['--version'], { NODE_COMPILE_CACHE: cache() });
    expect(cached).toEqual(plain);
    const usage = await runBearmon(['no-such-command'], { NODE_COMPILE_CACHE: cache() });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown command 'no-such-command'");
    expect(usage.stdout).toBe('');
  });
});
