/**
 * Operating bearmon without SQL: `bearmon check add|list|show|edit|enable|disable|rm`,
 * `bearmon contact add|list|show|edit|rm`, `bearmon alert add|list|rm`, `bearmon apply FILE`
 * and `bearmon export`. Names are accepted wherever ids are. What each command does is in
 * manage-actions.ts; every write is judged by the schemas the controller and the delivery
 * stage use, runs in one transaction, and is followed by a reload request.
 *
 * Exit codes (docs/CLI.md): 0 done; 2 bad input (the message names field and value;
 * nothing is written); 3 the database could not be reached.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type * as Actions from './manage-actions.ts';
import type { Session } from './manage-actions.ts';
import { registerMaintenanceCommands } from './maintenance.ts';

type GlobalConfig = () => { config: Config; log: Logger };
type ActionName = Exclude<keyof typeof Actions, 'InputError' | 'openSession' | 'tellController'>;

export function registerManageCommands(program: Command, globalConfig: GlobalConfig): void {
  /**
   * An action of manage-actions.ts, loaded when its command runs (the registries and
   * schemas it needs would slow every other command's start-up), with a database session;
   * a write is followed by a reload request to the controller.
   */
  const lazy =
    (name: ActionName) =>
    async (...args: unknown[]) => {
      const actions = await import('./manage-actions.ts');
      const { config, log } = globalConfig();
      const session = await actions.openSession(config, log);
      let wrote = false;
      try {
        const action = actions[name] as (session: Session, config: Config, ...rest: unknown[]) => Promise<'wrote' | void>;
        wrote = (await action(session, config, ...args)) === 'wrote';
      } catch (err) {
        if (!(err instanceof actions.InputError)) throw err;
        process.stderr.write(`bearmon: ${err.message}\n`);
        process.exitCode = err.exitCode;
      } finally {
        await session.close();
      }
      if (wrote) process.stderr.write(`${await actions.tellController(config)}\n`);
    };

  const check = program.commands.find((c) => c.name() === 'check') ?? program.command('check').description('work with checks');
  check
    .command('add')
    .description('add a check; prints its id (exit 2: a field is invalid, nothing written)')
    .requiredOption('--name <name>', 'unique name (not all digits)')
    .requiredOption('--type <type>', 'http, tcp, icmp, ssl_expire or dns')
    .requiredOption('--data <json>', 'the check parameters as JSON, e.g. \'{"url":"http://127.0.0.1:8080/"}\'')
    .option('--interval <seconds>', 'seconds between runs, or a duration such as 30s, 5m', '60')
    .option('--delay <n>', 'intervals a change must last before it is notified', '1')
    .option('--regions <n>', 'distinct regions that must see a change, 1..16 (1: any one)', '1')
    .option('--disabled', 'add it without monitoring it yet')
    .option('--json', 'print the new check as JSON')
    .action(lazy('checkAdd'));
  check
    .command('list')
    .description('list checks: id, name, type, interval, delay, enabled, status, parameters')
    .option('--type <type>', 'only checks of this type')
    .option('--json', 'print a JSON array')
    .action(lazy('checkList'));
  check
    .command('show <check>')
    .description('one check by id or name, with its alerts')
    .option('--json', 'print it as JSON')
    .action(lazy('checkShow'));
  check
    .command('edit <check>')
    .description('change fields of a check (the others keep their values)')
    .option('--name <name>')
    .option('--type <type>')
    .option('--data <json>')
    .option('--interval <seconds>')
    .option('--delay <n>')
    .option('--regions <n>')
    .option('--json', 'print the check as JSON')
    .action(lazy('checkEdit'));
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    check
      .command(`${verb} <check>`)
      .description(`${enabled ? 'monitor' : 'stop monitoring'} a check (its rows and alerts stay)`)
      .action(lazy(enabled ? 'checkEnable' : 'checkDisable'));
  }
  check
    .command('rm <check>')
    .description('delete a check and its alerts (its history in check_events stays)')
    .action(lazy('checkRm'));

  const contact = program.commands.find((c) => c.name() === 'contact') ?? program.command('contact').description('work with contacts');
  contact
    .command('add')
    .description('add a contact; prints its id (exit 2: a field is invalid, nothing written)')
    .requiredOption('--name <name>', 'unique name (not all digits)')
    .requiredOption('--type <type>', 'a contact type: email, sms, voice, http, webhook, a chat or push service (slack, telegram, ntfy...); docs/OPERATIONS.md lists them all')
    .requiredOption('--data <value>', 'what the type needs: an e-mail address, an E.164 phone number, a webhook URL or a JSON object (docs/OPERATIONS.md)')
    .option('--json', 'print the new contact as JSON')
    .action(lazy('contactAdd'));
  contact
    .command('list')
    .description('list contacts (a contact made without a name is shown as contact-<id>)')
    .option('--json', 'print a JSON array')
    .action(lazy('contactList'));
  contact
    .command('show <contact>')
    .description('one contact by id or name, with the alerts that use it')
    .option('--json', 'print it as JSON')
    .action(lazy('contactShow'));
  contact
    .command('edit <contact>')
    .description('change fields of a contact (the others keep their values)')
    .option('--name <name>')
    .option('--type <type>')
    .option('--data <value>')
    .action(lazy('contactEdit'));
  contact
    .command('rm <contact>')
    .description('delete a contact and the alerts that use it')
    .action(lazy('contactRm'));

  const alert = program.command('alert').description('work with alerts: which contact hears of which check');
  alert
    .command('add')
    .description('notify a contact when a check changes; prints the alert id')
    .requiredOption('--check <check>', 'the check, by id or name')
    .requiredOption('--contact <contact>', 'the contact, by id or name')
    .option('--type <type>', 'online, offline, both, or partial (only partial outages: some regions see it offline, others online)', 'both')
    .option('--disabled', 'add it disabled')
    .option('--remind-every <duration>', 'while the check stays offline, repeat the offline notification this often (at least 1m; e.g. 30m)')
    .option('--remind-max <n>', 'at most this many reminders per outage (with --remind-every)')
    .option('--json', 'print the new alert as JSON')
    .action(lazy('alertAdd'));
  alert
    .command('list')
    .description('list alerts with their check and contact names')
    .option('--check <check>', 'only the alerts of this check (id or name)')
    .option('--json', 'print a JSON array')
    .action(lazy('alertList'));
  alert
    .command('rm <id>')
    .description('delete an alert')
    .action(lazy('alertRm'));

  program
    .command('apply <file>')
    .description('make the database match a YAML file of checks, contacts and alerts (one transaction; exit 2 and nothing written when the file is invalid)')
    .option('--dry-run', 'print the plan and write nothing')
    .option('--prune', 'also delete checks, contacts and alerts the file does not declare')
    .option('--json', 'print the plan as JSON')
    .action(lazy('apply'));

  program
    .command('export')
    .description('print checks, contacts and alerts as the YAML `bearmon apply` reads (export then apply changes nothing)')
    .option('--out <file>', 'write it to this file instead of stdout')
    .action(lazy('exportYamlFile'));

  registerMaintenanceCommands(program, globalConfig);
}

