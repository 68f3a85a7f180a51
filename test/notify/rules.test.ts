import { describe, expect, it } from 'vitest';
import type { SendOutcome } from '../../src/contacts/types.ts';
import { backoffAfter, nextStep, resolveStale, staleAfterMs, type DeliveryPolicy } from '../../src/notify/policy.ts';
import { route, wants, type AlertRow } from '../../src/notify/routing.ts';

describe('wants: alert type × enabled × transition (SPEC §4)', () => {
  const types: unknown[] = ['online', 'offline', 'both', null, 'garbage'];
  const enableds: unknown[] = [1, 0, '1', null];
  const combinations = types.flatMap((type) => enableds.flatMap((enabled) => (['online', 'offline'] as const).map((to) => ({ type, enabled, to }))));
  // SPEC §4, written out: an enabled alert (1, or '1' as MySQL may return it) of the
  // transition's own type or of type 'both'. Every other combination is unwanted.
  const WANTED = [
    { type: 'online', enabled: 1, to: 'online' },
    { type: 'online', enabled: '1', to: 'online' },
    { type: 'offline', enabled: 1, to: 'offline' },
    { type: 'offline', enabled: '1', to: 'offline' },
    { type: 'both', enabled: 1, to: 'online' },
    { type: 'both', enabled: 1, to: 'offline' },
    { type: 'both', enabled: '1', to: 'online' },
    { type: 'both', enabled: '1', to: 'offline' },
  ];

  it('wants exactly the 8 combinations of SPEC §4 among all 40 (5 types × 4 enabled values × 2 directions)', () => {
    expect(combinations.filter(({ type, enabled, to }) => wants({ type, enabled }, to))).toEqual(WANTED);
  });

  const isWanted = (c: { type: unknown; enabled: unknown; to: string }) => WANTED.some((w) => w.type === c.type && w.enabled === c.enabled && w.to === c.to);
  it.each(combinations.map((c) => ({ ...c, expected: isWanted(c) })))('type $type, enabled $enabled, to $to → $expected', ({ type, enabled, to, expected }) => {
    expect(wants({ type, enabled }, to)).toBe(expected);
  });
});

describe('wants: partial outages (issue 17)', () => {
  const types: unknown[] = ['online', 'offline', 'both', 'partial', null, 'garbage'];
  it('a partial outage is wanted only by enabled partial alerts', () => {
    expect(types.filter((type) => wants({ type, enabled: 1 }, 'partial'))).toEqual(['partial']);
    expect(wants({ type: 'partial', enabled: 0 }, 'partial')).toBe(false);
    expect(wants({ type: 'partial', enabled: '1' }, 'partial')).toBe(true);
  });

  it('a partial alert hears of no status change, and the other types hear of them as before', () => {
    for (const to of ['online', 'offline'] as const) {
      expect(wants({ type: 'partial', enabled: 1 }, to)).toBe(false);
      expect(types.filter((type) => wants({ type, enabled: 1 }, to))).toEqual([to, 'both']);
    }
  });
});

describe('route', () => {
  const contact = (id: number) => ({ type: 'webhook', data: `http://127.0.0.1:9/hook/${id}` });
  const alert = (alertId: number, contactId: number, type: unknown, enabled: unknown = 1): AlertRow => ({
    alertId,
    contactId,
    type,
    enabled,
    contact: contact(contactId),
  });

  it('keeps the wanted alerts, in alert id order, one route per contact', () => {
    const alerts = [
      alert(5, 30, 'both'),
      alert(2, 10, 'offline'),
      alert(3, 20, 'online'),
      alert(4, 10, 'both'), // second alert naming contact 10: no second message
      alert(1, 40, 'offline', 0),
      alert(6, 50, 'garbage'),
    ];
    expect(route(alerts, 'offline')).toEqual([
      { alertId: 2, contactId: 10, contact: contact(10) },
      { alertId: 5, contactId: 30, contact: contact(30) },
    ]);
    expect(route(alerts, 'online')).toEqual([
      { alertId: 3, contactId: 20, contact: contact(20) },
      { alertId: 4, contactId: 10, contact: contact(10) },
      { alertId: 5, contactId: 30, contact: contact(30) },
    ]);
  });

  it('dedups two alerts naming one contact to the lower alert id, even when listed in reverse', () => {
    expect(route([alert(9, 7, 'both'), alert(8, 7, 'offline')], 'offline')).toEqual([{ alertId: 8, contactId: 7, contact: contact(7) }]);
  });

  it('a disabled alert does not hide an enabled one naming the same contact', () => {
    expect(route([alert(1, 7, 'both', 0), alert(2, 7, 'both', 1)], 'online')).toEqual([{ alertId: 2, contactId: 7, contact: contact(7) }]);
  });

  it('routes an alert whose contact row is missing, with a null contact', () => {
    expect(route([{ alertId: 1, contactId: 99, type: 'both', enabled: 1, contact: null }], 'offline')).toEqual([
      { alertId: 1, contactId: 99, contact: null },
    ]);
  });

  it('routes a partial outage to the partial alerts only, and status changes never to them', () => {
    const alerts = [alert(1, 10, 'both'), alert(2, 20, 'partial'), alert(3, 30, 'offline'), alert(4, 10, 'partial'), alert(5, 40, 'partial', 0)];
    expect(route(alerts, 'partial')).toEqual([
      { alertId: 2, contactId: 20, contact: contact(20) },
      { alertId: 4, contactId: 10, contact: contact(10) },
    ]);
    expect(route(alerts, 'offline').map((r) => r.alertId)).toEqual([1, 3]);
    expect(route(alerts, 'online').map((r) => r.alertId)).toEqual([1]);
  });

  it('returns nothing for no alerts', () => {
    expect(route([], 'offline')).toEqual([]);
  });
});

describe('delivery policy', () => {
  const policy: DeliveryPolicy = { maxAttempts: 4, backoffMs: 50, backoffMaxMs: 200, attemptTimeoutMs: 2000 };
  const now = 1_000_000;
  const ok: SendOutcome = { ok: true, detail: 'webhook 127.0.0.1:9 answered HTTP 200' };
  const permanent: SendOutcome = { ok: false, retry: false, error: 'webhook 127.0.0.1:9 answered HTTP 404' };
  const retryable: SendOutcome = { ok: false, retry: true, error: 'webhook 127.0.0.1:9 answered HTTP 503' };

  it.each([
    { attempt: 0, ms: 50 },
    { attempt: 1, ms: 50 },
    { attempt: 2, ms: 100 },
    { attempt: 3, ms: 200 },
    { attempt: 4, ms: 200 },
    { attempt: 30, ms: 200 },
  ])('backoffAfter($attempt) = $ms ms (doubling, capped at 200)', ({ attempt, ms }) => {
    expect(backoffAfter(attempt, policy)).toBe(ms);
  });

  it.each([
    { name: 'ok on the first attempt', outcome: ok, attempt: 1, step: { result: 'delivered', detail: 'webhook 127.0.0.1:9 answered HTTP 200' } },
    { name: 'ok on the last attempt', outcome: ok, attempt: 4, step: { result: 'delivered', detail: 'webhook 127.0.0.1:9 answered HTTP 200' } },
    {
      name: 'permanent on the first attempt',
      outcome: permanent,
      attempt: 1,
      step: { result: 'failed', detail: 'not retried: webhook 127.0.0.1:9 answered HTTP 404' },
    },
    {
      name: 'permanent below the limit',
      outcome: permanent,
      attempt: 2,
      step: { result: 'failed', detail: 'not retried: webhook 127.0.0.1:9 answered HTTP 404' },
    },
    { name: 'retryable, attempt 1', outcome: retryable, attempt: 1, step: { result: 'retry', detail: retryable.error, nextAttemptAt: now + 50 } },
    { name: 'retryable, attempt 2', outcome: retryable, attempt: 2, step: { result: 'retry', detail: retryable.error, nextAttemptAt: now + 100 } },
    { name: 'retryable, attempt 3', outcome: retryable, attempt: 3, step: { result: 'retry', detail: retryable.error, nextAttemptAt: now + 200 } },
    {
      name: 'retryable at the limit',
      outcome: retryable,
      attempt: 4,
      step: { result: 'failed', detail: 'gave up after 4 attempt(s): webhook 127.0.0.1:9 answered HTTP 503' },
    },
    {
      name: 'retryable past the limit (maxAttempts lowered meanwhile)',
      outcome: retryable,
      attempt: 6,
      step: { result: 'failed', detail: 'gave up after 6 attempt(s): webhook 127.0.0.1:9 answered HTTP 503' },
    },
  ] as const)('$name → $step.result', ({ outcome, attempt, step }) => {
    expect(nextStep(outcome, attempt, policy, now)).toEqual(step);
  });

  it('caps the wait of a late retry at backoffMaxMs', () => {
    const patient = { ...policy, maxAttempts: 10 };
    expect(nextStep(retryable, 7, patient, now)).toEqual({ result: 'retry', detail: retryable.error, nextAttemptAt: now + 200 });
  });

  it('waits as long as a rate-limited vendor asked (retryAfterMs) when that is longer than the backoff, never past backoffMaxMs', () => {
    const limited = { ...retryable, retryAfterMs: 150 };
    expect(nextStep(limited, 1, policy, now)).toEqual({ result: 'retry', detail: retryable.error, nextAttemptAt: now + 150 });
    expect(nextStep(limited, 3, policy, now)).toEqual({ result: 'retry', detail: retryable.error, nextAttemptAt: now + 200 });
    expect(nextStep({ ...retryable, retryAfterMs: 3_600_000 }, 1, policy, now)).toEqual({ result: 'retry', detail: retryable.error, nextAttemptAt: now + 200 });
  });

  it('with maxAttempts 1 the first retryable failure is final', () => {
    expect(nextStep(retryable, 1, { ...policy, maxAttempts: 1 }, now)).toEqual({
      result: 'failed',
      detail: 'gave up after 1 attempt(s): webhook 127.0.0.1:9 answered HTTP 503',
    });
  });

  it('judges a claim stale after twice the attempt deadline', () => {
    expect(staleAfterMs(policy)).toBe(4000);
  });

  it.each([
    { idempotent: true, started: true, resolution: 'retry' },
    { idempotent: false, started: true, resolution: 'unconfirmed' },
    // Claimed, but the send never began: nothing went out, whatever the contact.
    { idempotent: true, started: false, resolution: 'retry' },
    { idempotent: false, started: false, resolution: 'retry' },
  ])('resolveStale(idempotent $idempotent, send started $started) → $resolution', ({ idempotent, started, resolution }) => {
    expect(resolveStale(idempotent, started)).toBe(resolution);
  });
});
