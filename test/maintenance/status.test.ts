import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../src/cli/status.ts';
import type { ControllerStatus } from '../../src/controller/status.ts';

describe('bearmon status: checks in a maintenance window', () => {
  it('marks each check a window in force covers, with the window and its end; the held notifications are counted', () => {
    const status: ControllerStatus = {
      controller: 'w1',
      view: 3,
      at: '2026-01-01T10:30:00.000Z',
      confirmations: 2,
      quorum: true,
      workers: [],
      backlog: { checks: 0, oldestLateMs: 0 },
      notifications: { pending: 0, sending: 0, held: 2, oldestOpen: null, lastDay: { delivered: 1, failed: 0, unconfirmed: 0 } },
      maintenance: [
        { name: 'db-upgrade', checkId: 1, until: '2026-01-01T11:00:00.000Z' },
        { name: 'nightly', checkId: null, until: '2026-01-01T10:45:00.000Z' },
      ],
      checks: [
        { id: 1, name: 'shop', type: 'http', state: 'offline', status: 'offline' },
        { id: 2, name: 'blog', type: 'http', state: 'online', status: 'online' },
      ],
    };
    const text = formatStatus(status);
    expect(text).toMatch(/^notifications: 0 pending, 0 sending, 2 held by maintenance; last 24 h: 1 delivered, 0 failed, 0 unconfirmed$/m);
    expect(text).toMatch(/^\s*1 +shop +http +offline \(maintenance\) .*in maintenance db-upgrade until 2026-01-01T11:00:00.000Z/m);
    expect(text).toMatch(/^\s*2 +blog +http +online \(maintenance\) .*in maintenance nightly until 2026-01-01T10:45:00.000Z/m);
    // Without windows the table is as before.
    expect(formatStatus({ ...status, maintenance: [] })).not.toMatch(/maintenance \w/);
  });
});
