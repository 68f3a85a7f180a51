import type { Config } from '../../src/config/schema.ts';
import { createContactContext } from '../../src/contacts/registry.ts';
import type { ContactContext, Notification } from '../../src/contacts/types.ts';
import { captureLogs, type CapturedLogs } from '../helpers/logs.ts';

export const ACCOUNT_SID = 'AC' + '0123456789abcdef'.repeat(2);

/** A transition to offline of an http check, confirmed by two workers. */
export function notification(overrides: Partial<Notification> = {}): Notification {
  return {
    id: 'notif-7-1793705747836-offline',
    check: { id: 7, name: 'shop <front> & api', type: 'http', data: '{"url":"http://127.0.0.1:8080/health","expect_status":200}' },
    status: 'offline',
    message: 'HTTP 503 in 4 ms',
    at: new Date('2026-11-03T09:15:47.836Z'),
    workers: ['probe-ams1', 'probe-fra2'],
    ...overrides,
  };
}

export interface TestContext {
  ctx: ContactContext;
  logs: CapturedLogs;
}

/** A real context whose logger writes into memory; pass the parts a test points elsewhere. */
export function testContext(
  config: { smtp?: Partial<Config['smtp']>; twilio?: Partial<Config['twilio']> } = {},
  overrides: Partial<Omit<ContactContext, 'smtp' | 'twilio' | 'log'>> = {},
): TestContext {
  const logs = captureLogs();
  const ctx = createContactContext(
    {
      smtp: { host: undefined, port: 587, from: undefined, username: undefined, password: undefined, admin: undefined, adminInterval: 900_000, ...config.smtp },
      twilio: { accountSid: undefined, authToken: undefined, from: undefined, ...config.twilio },
    },
    logs.log,
    { now: () => Date.parse('2026-11-03T09:15:48.000Z'), ...overrides },
  );
  return { ctx, logs };
}
