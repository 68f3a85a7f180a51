// Prints the configuration key table in Markdown (docs/OPERATIONS.md's "Configuration keys" section is
// generated with: node --import tsx scripts/config-keys-md.ts). A test keeps them in sync.
import { describeKeys } from '../src/config/load.ts';

export function configKeysMarkdown(): string {
  // A value as code; a description of one (`(the host name)`) as text.
  const code = (text: string | null) => (text === null ? '' : text.startsWith('(') ? text : `\`${text}\``);
  const rows = describeKeys().map(
    (k) => `| \`[${k.section}]\` | \`${k.key}\`${k.list ? ' (repeatable)' : ''} | ${code(k.default)} | ${k.unit ?? ''} | \`${k.env}\` | ${k.doc} |`,
  );
  return ['| section | key | default | unit | environment | meaning |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${configKeysMarkdown()}\n`);
