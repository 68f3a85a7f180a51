import type { CheckRegistry } from './registry.ts';
import type { CheckContext, CheckResult, CheckType } from './types.ts';
import { describeIssues } from '../validation.ts';

/** How long past its own deadline a check may run before the runner stops waiting for it. */
export const DEADLINE_MARGIN_MS = 1000;

export type PreparedCheck =
  | { ok: true; check: CheckType; params: unknown }
  | { ok: false; message: string };

/** Understands a check definition (type + `checks.data` JSON) without running it. */
export function prepareCheck(registry: CheckRegistry, type: string, data: string): PreparedCheck {
  const check = registry.get(type);
  if (!check) return { ok: false, message: `type: unknown check type ${JSON.stringify(type)}` };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (err) {
    return { ok: false, message: `data: invalid JSON (${(err as Error).message})` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, message: `data: expected a JSON object (value ${JSON.stringify(data).slice(0, 80)})` };
  }
  // Valid definitions are the common case: only a failure re-parses to name the value.
  const parsed = check.schema.safeParse(json);
  if (parsed.success) return { ok: true, check, params: parsed.data };
  return { ok: false, message: describeIssues(check.schema.safeParse(json, { reportInput: true }).error!) };
}

/** The caller's context; `signal` here means "stop, we are shutting down", not a timeout. */
export type RunContext = Omit<CheckContext, 'signal'> & { signal?: AbortSignal };

/**
 * Runs one check. Never throws and never outlives its deadline plus a small margin:
 * a definition that cannot be understood is `misconfigured`, a crash inside a check is
 * `error` (a worker fault, never counted as the target being offline).
 */
export function runCheck(registry: CheckRegistry, type: string, data: string, context: RunContext): Promise<CheckResult> {
  return new CheckRunner(registry, 1).run(type, data, context);
}

const DEADLINE = new Error('deadline passed');
const CANCELLED = new Error('run cancelled');

/**
 * Three ways a run ends: the check answers; its deadline passes (the check's signal is
 * aborted and, should it ignore that, the runner answers `offline` after the margin); or
 * the caller cancels (shutdown) — then the result is `error`, since a cancelled run says
 * nothing about the target. Kept lean: this wraps every single check run.
 */
export function runPrepared(check: CheckType, params: unknown, context: RunContext): Promise<CheckResult> {
  const started = context.now();
  const elapsed = () => Math.max(0, context.now() - started);
  const outer = context.signal;
  if (outer?.aborted) return Promise.resolve({ status: 'error', message: 'run cancelled', durationMs: 0 });
  const deadlineMs = check.deadlineMs(params);
  const controller = new AbortController();
  return new Promise<CheckResult>((resolve) => {
    let settled = false;
    let guard: NodeJS.Timeout | undefined;
    const finish = (result: CheckResult, stopCheck: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(guard);
      outer?.removeEventListener('abort', onCancel);
      if (stopCheck) controller.abort(CANCELLED);
      resolve(result);
    };
    const onCancel = () => finish({ status: 'error', message: 'run cancelled', durationMs: elapsed() }, true);
    outer?.addEventListener('abort', onCancel, { once: true });
    const deadline = setTimeout(() => {
      controller.abort(DEADLINE);
      guard = setTimeout(
        () => finish({ status: 'offline', message: `timed out after ${Math.round(deadlineMs / 1000)}s`, durationMs: elapsed() }, false),
        DEADLINE_MARGIN_MS,
      );
    }, deadlineMs);
    check.run(params, { ...context, signal: controller.signal }).then(
      (outcome) => finish({ ...outcome, durationMs: elapsed() }, false),
      (err: unknown) =>
        finish({ status: 'error', message: `check ${check.type} failed internally: ${(err as Error)?.message ?? String(err)}`, durationMs: elapsed() }, false),
    );
  });
}

/**
 * Runs checks by definition, remembering the last `capacity` prepared definitions: a
 * worker runs the same few thousand definitions over and over, and parsing plus
 * validating one (JSON, zod, URL) costs more than a loopback HTTP check's own work.
 */
export class CheckRunner {
  private readonly prepared = new Map<string, PreparedCheck>();

  constructor(
    private readonly registry: CheckRegistry,
    private readonly capacity = 10_000,
  ) {}

  prepare(type: string, data: string): PreparedCheck {
    const key = `${type}\u0000${data}`;
    let entry = this.prepared.get(key);
    if (entry) {
      // Refresh recency: Map iteration order is insertion order, so the first key is the oldest.
      this.prepared.delete(key);
    } else {
      entry = prepareCheck(this.registry, type, data);
      if (this.prepared.size >= this.capacity) this.prepared.delete(this.prepared.keys().next().value!);
    }
    this.prepared.set(key, entry);
    return entry;
  }

  run(type: string, data: string, context: RunContext): Promise<CheckResult> {
    const prepared = this.prepare(type, data);
    if (!prepared.ok) return Promise.resolve({ status: 'misconfigured', message: prepared.message, durationMs: 0 });
    return runPrepared(prepared.check, prepared.params, context);
  }
}
