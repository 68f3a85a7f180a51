import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configKeysMarkdown } from '../../scripts/config-keys-md.ts';
import { roleTableMarkdown } from '../../src/bus/permissions.ts';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { createContactRegistry } from '../../src/contacts/registry.ts';

const readme = () => readFile(new URL('../../README.md', import.meta.url), 'utf8');
const operations = () => readFile(new URL('../../docs/OPERATIONS.md', import.meta.url), 'utf8');
const cluster = () => readFile(new URL('../../docs/CLUSTER.md', import.meta.url), 'utf8');

describe('README and docs/ stay true', () => {
  it('documents every configuration key exactly as the key table says', async () => {
    // Regenerate with: node --import tsx scripts/config-keys-md.ts
    expect(await operations()).toContain(configKeysMarkdown());
  });

  it('shows the roles exactly as nats.conf grants them', async () => {
    // Regenerate with: node --import tsx -e "import('./src/bus/permissions.ts').then(m => console.log(m.roleTableMarkdown()))"
    expect(await cluster()).toContain(roleTableMarkdown());
  });

  it('documents every registered check type', async () => {
    const text = await operations();
    for (const type of createCheckRegistry().keys()) expect(text).toContain(`| \`${type}\` |`);
  });

  it("the README's contact table lists every registered contact type, and the reference documents each", async () => {
    const text = await readme();
    const table = text.slice(text.indexOf('### Contacts'), text.indexOf('![dashboard]'));
    const reference = await operations();
    for (const type of createContactRegistry().keys()) {
      expect(table, type).toMatch(new RegExp(`^\\| [^|]*\`${type}\``, 'm'));
      expect(reference, type).toContain(`\`${type}\``);
    }
  });

  it('has the two-command quick start', async () => {
    expect(await readme()).toMatch(/npm start[^\n]*\nnpm test/);
  });
});
