// Prints the configuration key table in Markdown (README's "Configuration keys" section is
// generated with: node --import tsx scripts/config-keys-md.ts). A test keeps them in sync.
import { describeKeys } from '../src/config/load.ts';

export function configKeysMarkdown(): string {
  const rows = describeKeys().map(
    (k) => `| \`[${k.section}]\` | \`${k.key}\`${k.list ? ' (repeatable)' : ''} | \`BEARMON_${k.section.toUpperCase()}_${k.key.toUpperCase()}\` | ${k.doc} |`,
  );
  return ['| section | key | environment | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${configKeysMarkdown()}\n`);
