/**
 * What `bearmon check|contact|alert …`, `bearmon apply FILE` and `bearmon export` do (the
 * commands are defined in manage.ts, which loads this module only when one of them runs). Every write is judged by the schemas the controller and the delivery
 * stage use (src/manage/specs.ts), runs in one transaction, and is followed by a reload
 * request to the running controller. Names are accepted wherever ids are.
 *
 * Exit codes (docs/CLI.md): 0 done; 2 bad input (the message names field and value;
 * nothing is written); 3 the database could not be reached.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { PoolConnection } from 'mysql2/promise';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { describeStep, planApply, type Step } from '../manage/plan.ts';
import { contactName, readInventory, remindOf, writer, type CheckRecord, type ContactRecord, type Inventory, type Writer } from '../manage/repository.ts';
import type { Judged } from '../manage/specs.ts';
import { renderTable } from './table.ts';

/** Bad input: exit 2, the message on stderr, nothing written. */
export class InputError extends Error {
  readonly exitCode = 2;
}

export interface Session {
  read(): Promise<Inventory>;
  /** One transaction: `work` sees the rows as they are inside it. Rolled back when it throws. */
  write<T>(work: (current: Inventory, write: Writer) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const QUERY_TIMEOUT_MS = 15_000;

export async function openSession(config: Config, log: Logger): Promise<Session> {
  const [{ createCluster }, { inTransaction, withPooledConnection }] = await Promise.all([import('../db/cluster.ts'), import('../db/sql.ts')]);
  const cluster = createCluster({ dsns: config.controller.database, log, connectionLimit: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
  const read = (c: PoolConnection) => readInventory(c, QUERY_TIMEOUT_MS).catch(explainOldSchema);
  return {
    read: () => cluster.run((pool) => withPooledConnection(pool, read)),
    write: async <T>(work: (current: Inventory, write: Writer) => Promise<T>) => {
      const result = await cluster.run((pool) => inTransaction(pool, async (c) => ({ value: await work(await read(c), writer(c, QUERY_TIMEOUT_MS)) }), () => true, QUERY_TIMEOUT_MS));
      return result!.value;
    },
    close: () => cluster.close(),
  };
}

/** A database bearmon's migration has not reached yet has no contacts.name. */
function explainOldSchema(err: unknown): never {
  if ((err as { errno?: number }).errno === 1054) throw new Error(`${(err as Error).message}: the database schema is older than this bearmon; run \`bearmon db migrate\``);
  throw err;
}

/** Asks the running controller to reload now; the change is saved either way. */
export async function tellController(config: Config): Promise<string> {
  try {
    const { connectBus } = await import('../bus/connect.ts');
    const { subject } = await import('../bus/subjects.ts');
    const nc = await connectBus({ ...config.nats }, 'bearmon-manage');
    try {
      const reply = (await nc.request(subject.control('reload'), '', { timeout: 5_000 })).json<{ ok: boolean; checks?: number; error?: string }>();
      return reply.ok ? `the controller reloaded: ${reply.checks} checks monitored` : `the controller could not reload: ${reply.error}`;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return `the controller was not told (${(err as Error).message}); it picks the change up at its next reload ([controller] reloadInterval)`;
  }
}

// --- references ----------------------------------------------------------------------

/** A check or contact by id (all digits) or by name; a name two rows share must be given as an id. */
function resolve<T extends { id: number }>(noun: string, ref: string, rows: readonly T[], nameOf: (row: T) => string): T {
  const trimmed = ref.trim();
  if (/^\d+$/.test(trimmed)) {
    const row = rows.find((r) => r.id === Number(trimmed));
    if (!row) throw new InputError(`${noun}: no ${noun} with id ${trimmed}`);
    return row;
  }
  const matches = rows.filter((r) => nameOf(r) === trimmed);
  if (matches.length === 0) throw new InputError(`${noun}: no ${noun} named ${JSON.stringify(trimmed)}`);
  if (matches.length > 1) throw new InputError(`${noun}: ${matches.length} ${noun}s are named ${JSON.stringify(trimmed)} (ids ${matches.map((m) => m.id).join(', ')}): give the id`);
  return matches[0]!;
}
const resolveCheck = (ref: string, inv: Inventory) => resolve('check', ref, inv.checks, (c) => c.name);
const resolveContact = (ref: string, inv: Inventory) => resolve('contact', ref, inv.contacts, contactName);

function judged<T>(result: Judged<T>): T {
  if (!result.ok) throw new InputError(result.problems.map((p) => p.message).join('; '));
  return result.spec;
}

function refuseTakenName(noun: string, name: string, taken: readonly { id: number; name: string }[], self?: number) {
  const other = taken.find((t) => t.name === name && t.id !== self);
  if (other) throw new InputError(`name: a ${noun} named ${JSON.stringify(name)} exists already (id ${other.id}) (value ${JSON.stringify(name)})`);
}

/** `data` of a check from the command line: JSON text. */
function parseJsonOption(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`data: invalid JSON (${(err as Error).message}) (value ${JSON.stringify(text.slice(0, 80))})`);
  }
}

// --- output ----------------------------------------------------------------------------

const out = (text: string) => process.stdout.write(`${text}\n`);
const checkJson = (c: CheckRecord) => ({ ...c, data: safeJson(c.data) });
const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

function checkTable(checks: readonly CheckRecord[]): string {
  return renderTable(
    ['ID', 'NAME', 'TYPE', 'INTERVAL', 'DELAY', 'ENABLED', 'STATUS', 'DATA'],
    checks.map((c) => [c.id, c.name, c.type, `${c.interval}s`, c.delay, c.enabled ? 'yes' : 'no', c.status, c.data]),
    { align: ['right', 'left', 'left', 'right', 'right'], maxWidths: [undefined, 32, undefined, undefined, undefined, undefined, undefined, 60] },
  );
}

function contactTable(contacts: readonly ContactRecord[]): string {
  return renderTable(
    ['ID', 'NAME', 'TYPE', 'DATA'],
    contacts.map((c) => [c.id, contactName(c), c.type, c.data]),
    { align: ['right'], maxWidths: [undefined, 32, undefined, 60] },
  );
}

function alertRows(inv: Inventory, onlyCheck?: number) {
  const checks = new Map(inv.checks.map((c) => [c.id, c.name]));
  const contacts = new Map(inv.contacts.map((c) => [c.id, contactName(c)]));
  return inv.alerts
    .filter((a) => onlyCheck === undefined || a.checkId === onlyCheck)
    .map((a) => ({ ...a, check: checks.get(a.checkId) ?? null, contact: contacts.get(a.contactId) ?? null }));
}

function alertTable(rows: ReturnType<typeof alertRows>): string {
  return renderTable(
    ['ID', 'CHECK', 'CONTACT', 'TYPE', 'ENABLED'],
    rows.map((a) => [a.id, `${a.checkId} (${a.check ?? 'missing'})`, `${a.contactId} (${a.contact ?? 'missing'})`, a.type, a.enabled ? 'yes' : 'no']),
    { align: ['right'] },
  );
}

// --- actions (one per command) --------------------------------------------------

export const checkAdd = async (session: Session, config: Config, options: { name: string; type: string; data: string; interval: string; delay: string; regions: string; disabled?: boolean; json?: boolean }) => {
  const spec = judged(
    (await judges()).check({ name: options.name, type: options.type, data: parseJsonOption(options.data), interval: options.interval, delay: options.delay, regions: options.regions, enabled: !options.disabled }),
  );
  const id = await session.write(async (current, write) => {
    refuseTakenName('check', spec.name, current.checks);
    return write.insertCheck(spec);
  });
  out(options.json ? JSON.stringify({ id, ...spec, data: safeJson(spec.data) }) : String(id));
  return 'wrote';
};

export const checkList = async (session: Session, _config: Config, options: { type?: string; json?: boolean }) => {
  const checks = (await session.read()).checks.filter((c) => !options.type || c.type === options.type);
  out(options.json ? JSON.stringify(checks.map(checkJson), null, 2) : checkTable(checks));
};

export const checkShow = async (session: Session, _config: Config, ref: string, options: { json?: boolean }) => {
  const inv = await session.read();
  const row = resolveCheck(ref, inv);
  const alerts = alertRows(inv, row.id);
  if (options.json) return void out(JSON.stringify({ ...checkJson(row), alerts }, null, 2));
  out(renderTable([], [['id', row.id], ['name', row.name], ['type', row.type], ['data', row.data], ['interval', `${row.interval}s`], ['delay', row.delay], ['regions', row.regions], ['enabled', row.enabled ? 'yes' : 'no'], ['status', row.status]]));
  out(alerts.length > 0 ? `\nalerts:\n${alertTable(alerts)}` : '\nalerts: none');
};

export const checkEdit = async (session: Session, config: Config, ref: string, options: { name?: string; type?: string; data?: string; interval?: string; delay?: string; regions?: string; json?: boolean }) => {
  const changes = { name: options.name, type: options.type, data: options.data === undefined ? undefined : parseJsonOption(options.data), interval: options.interval, delay: options.delay, regions: options.regions };
  if (Object.values(changes).every((v) => v === undefined)) throw new InputError('nothing to change: give --name, --type, --data, --interval, --delay or --regions');
  const row = await session.write(async (current, write) => {
    const before = resolveCheck(ref, current);
    const merged = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
    const spec = judged((await judges()).check({ name: before.name, type: before.type, data: before.data, interval: before.interval, delay: before.delay, regions: before.regions, enabled: before.enabled, ...merged }));
    refuseTakenName('check', spec.name, current.checks, before.id);
    await write.updateCheck(before.id, spec);
    return { ...before, ...spec };
  });
  out(options.json ? JSON.stringify(checkJson(row)) : `check ${row.id} (${row.name}) updated`);
  return 'wrote';
};

const setEnabled = (enabled: boolean) => async (session: Session, _config: Config, ref: string) => {
  const row = await session.write(async (current, write) => {
    const before = resolveCheck(ref, current);
    await write.updateCheck(before.id, { ...before, enabled });
    return before;
  });
  out(`check ${row.id} (${row.name}) ${enabled ? 'enabled' : 'disabled'}`);
  return 'wrote';
};

export const checkRm = async (session: Session, _config: Config, ref: string) => {
  const { row, alerts } = await session.write(async (current, write) => {
    const row = resolveCheck(ref, current);
    return { row, ...(await write.deleteCheck(row.id)) };
  });
  out(`check ${row.id} (${row.name}) deleted, with ${alerts} alert(s)`);
  return 'wrote';
};

export const contactAdd = async (session: Session, _config: Config, options: { name: string; type: string; data: string; json?: boolean }) => {
  const spec = judged((await judges()).contact({ name: options.name, type: options.type, data: options.data }));
  const id = await session.write(async (current, write) => {
    refuseTakenName('contact', spec.name, current.contacts.map((c) => ({ id: c.id, name: contactName(c) })));
    return write.insertContact(spec);
  });
  out(options.json ? JSON.stringify({ id, ...spec }) : String(id));
  return 'wrote';
};

export const contactList = async (session: Session, _config: Config, options: { json?: boolean }) => {
  const { contacts } = await session.read();
  out(options.json ? JSON.stringify(contacts.map((c) => ({ ...c, name: contactName(c) })), null, 2) : contactTable(contacts));
};

export const contactShow = async (session: Session, _config: Config, ref: string, options: { json?: boolean }) => {
  const inv = await session.read();
  const row = resolveContact(ref, inv);
  const alerts = alertRows(inv).filter((a) => a.contactId === row.id);
  if (options.json) return void out(JSON.stringify({ ...row, name: contactName(row), alerts }, null, 2));
  out(renderTable([], [['id', row.id], ['name', contactName(row)], ['type', row.type], ['data', row.data]]));
  out(alerts.length > 0 ? `\nalerts:\n${alertTable(alerts)}` : '\nalerts: none');
};

export const contactEdit = async (session: Session, _config: Config, ref: string, options: { name?: string; type?: string; data?: string }) => {
  if (options.name === undefined && options.type === undefined && options.data === undefined) throw new InputError('nothing to change: give --name, --type or --data');
  const row = await session.write(async (current, write) => {
    const before = resolveContact(ref, current);
    const spec = judged((await judges()).contact({ name: options.name ?? contactName(before), type: options.type ?? before.type, data: options.data ?? before.data }));
    refuseTakenName('contact', spec.name, current.contacts.map((c) => ({ id: c.id, name: contactName(c) })), before.id);
    await write.updateContact(before.id, spec);
    return { id: before.id, ...spec };
  });
  out(`contact ${row.id} (${row.name}) updated`);
  return 'wrote';
};

export const contactRm = async (session: Session, _config: Config, ref: string) => {
  const { row, alerts } = await session.write(async (current, write) => {
    const row = resolveContact(ref, current);
    return { row, ...(await write.deleteContact(row.id)) };
  });
  out(`contact ${row.id} (${contactName(row)}) deleted, with ${alerts} alert(s)`);
  return 'wrote';
};

export const alertAdd = async (
  session: Session,
  _config: Config,
  options: { check: string; contact: string; type: string; disabled?: boolean; json?: boolean; remindEvery?: string; remindMax?: string },
) => {
  const spec = judged(
    (await judges()).alert({
      check: options.check,
      contact: options.contact,
      type: options.type,
      enabled: !options.disabled,
      ...(options.remindEvery === undefined ? {} : { remindEvery: options.remindEvery }),
      ...(options.remindMax === undefined ? {} : { remindMax: options.remindMax }),
    }),
  );
  const made = await session.write(async (current, write) => {
    const checkRow = resolveCheck(spec.check, current);
    const contactRow = resolveContact(spec.contact, current);
    const twin = current.alerts.find((a) => a.checkId === checkRow.id && a.contactId === contactRow.id);
    if (twin) throw new InputError(`alert: check ${checkRow.id} (${checkRow.name}) already alerts contact ${contactRow.id} (${contactName(contactRow)}) (alert ${twin.id})`);
    const remind = remindOf(spec);
    const id = await write.insertAlert(checkRow.id, contactRow.id, spec.type, spec.enabled, remind);
    return { id, checkId: checkRow.id, contactId: contactRow.id, type: spec.type, enabled: spec.enabled, ...remind };
  });
  out(options.json ? JSON.stringify(made) : String(made.id));
  return 'wrote';
};

export const alertList = async (session: Session, _config: Config, options: { check?: string; json?: boolean }) => {
  const inv = await session.read();
  const rows = alertRows(inv, options.check === undefined ? undefined : resolveCheck(options.check, inv).id);
  out(options.json ? JSON.stringify(rows, null, 2) : alertTable(rows));
};

export const alertRm = async (session: Session, _config: Config, ref: string) => {
  await session.write(async (current, write) => {
    const row = resolve('alert', ref, current.alerts, (a) => String(a.id));
    await write.deleteAlert(row.id);
  });
  out(`alert ${ref.trim()} deleted`);
  return 'wrote';
};

export const apply = async (session: Session, _config: Config, file: string, options: { dryRun?: boolean; prune?: boolean; json?: boolean }) => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: ${(err as Error).message}`);
  }
  const { readDeclared, unknownReferences } = await import('../manage/yaml-file.ts');
  const { runSteps } = await import('../manage/apply.ts');
  const read = readDeclared(text, file, await registries());
  if (!read.ok) throw new InputError(`${file} is not valid, nothing written:\n  ${read.errors.join('\n  ')}`);
  const plan = async (current: Inventory): Promise<Step[]> => {
    const unknown = unknownReferences(read.file, current, Boolean(options.prune), file);
    if (unknown.length > 0) throw new InputError(`${file} is not valid, nothing written:\n  ${unknown.join('\n  ')}`);
    return planApply(current, read.file.declared, { prune: Boolean(options.prune) });
  };
  const steps = options.dryRun
    ? await plan(await session.read())
    : await session.write(async (current, write) => {
        const steps = await plan(current);
        await runSteps(steps, current, write);
        return steps;
      });
  const counts = { create: 0, update: 0, delete: 0 };
  for (const s of steps) counts[s.action]++;
  if (options.json) out(JSON.stringify({ dryRun: Boolean(options.dryRun), ...counts, steps: steps.map((s) => ({ kind: s.kind, action: s.action, name: s.name, ...('id' in s ? { id: s.id } : {}), ...('changes' in s ? { changes: s.changes } : {}) })) }));
  else {
    for (const s of steps) out(`${options.dryRun ? 'would ' : ''}${describeStep(s)}`);
    out(`${options.dryRun ? 'plan' : 'applied'}: ${counts.create} to create, ${counts.update} to update, ${counts.delete} to delete${steps.length === 0 ? ' (nothing to do)' : ''}`);
  }
  return !options.dryRun && steps.length > 0 ? 'wrote' : undefined;
};

export const exportYamlFile = async (session: Session, _config: Config, options: { out?: string }) => {
  const inv = await session.read();
  const names = inv.checks.map((c) => c.name);
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length > 0) {
    const ids = inv.checks.filter((c) => twice.includes(c.name)).map((c) => `${c.id} (${c.name})`);
    throw new InputError(`checks share a name, which apply could not tell apart: ${ids.join(', ')}; rename them with \`bearmon check edit ID --name NEW\``);
  }
  const { exportYaml } = await import('../manage/yaml-file.ts');
  const yaml = exportYaml(inv);
  if (options.out) await writeFile(options.out, yaml);
  else process.stdout.write(yaml);
};
export const checkEnable = setEnabled(true);
export const checkDisable = setEnabled(false);

/**
 * The judges of operator input with the registries they judge by: the check and contact
 * types (and their libraries) are loaded by the commands that write, never by a list.
 */
async function judges() {
  const [specs, { checks, contacts }] = await Promise.all([import('../manage/specs.ts'), registries()]);
  return {
    check: (input: unknown) => specs.judgeCheck(checks, input),
    contact: (input: unknown) => specs.judgeContact(contacts, input),
    alert: (input: unknown) => specs.judgeAlert(input),
  };
}

/** The check and contact registries, loaded by the commands that judge input only. */
async function registries() {
  const [{ createCheckRegistry }, { createContactRegistry }] = await Promise.all([import('../checks/registry.ts'), import('../contacts/registry.ts')]);
  return { checks: createCheckRegistry(), contacts: createContactRegistry() };
}
