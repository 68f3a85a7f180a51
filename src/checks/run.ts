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
  const parsed = check.schema.safeParse(json, { reportInput: true });
  if (!parsed.success) return { ok: false, message: describeIssues(parsed.error) };
  return { ok: true, check, params: parsed.data };
}

export type RunContext = Omit<CheckContext, 'signal'> & { signal?: AbortSignal };

/**
 * Runs one check. Never throws and never outlives its deadline plus a small margin:
 * a definition that cannot be understood is `misconfigured`, a crash inside a check is
 * `error` (a worker fault, never counted as the target being offline).
 */
export async function runCheck(
  registry: CheckRegistry,
  type: string,
  data: string,
  context: RunContext,
): Promise<CheckResult> {
  const started = context.now();
  const elapsed = () => Math.max(0, context.now() - started);
  const prepared = prepareCheck(registry, type, data);
  if (!prepared.ok) return { status: 'misconfigured', message: prepared.message, durationMs: elapsed() };
  return runPrepared(prepared.check, prepared.params, context);
}

export async function runPrepared(check: CheckType, params: unknown, context: RunContext): Promise<CheckResult> {
  const started = context.now();
  const elapsed = () => Math.max(0, context.now() - started);
  const deadlineMs = check.deadlineMs(params);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(context.signal?.reason);
  context.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const deadline = setTimeout(() => controller.abort(new Error('deadline')), deadlineMs);
  let guard: NodeJS.Timeout | undefined;
  const overrun = new Promise<CheckResult>((resolve) => {
    guard = setTimeout(
      () => resolve({ status: 'offline', message: `timed out after ${Math.round(deadlineMs / 1000)}s`, durationMs: elapsed() }),
      deadlineMs + DEADLINE_MARGIN_MS,
    );
  });
  const attempt = check
    .run(params, { ...context, signal: controller.signal })
    .then((outcome): CheckResult => ({ ...outcome, durationMs: elapsed() }))
    .catch((err: unknown): CheckResult => ({
      status: 'error',
      message: `check ${check.type} failed internally: ${(err as Error)?.message ?? String(err)}`,
      durationMs: elapsed(),
    }));
  try {
    return await Promise.race([attempt, overrun]);
  } finally {
    clearTimeout(deadline);
    clearTimeout(guard);
    context.signal?.removeEventListener('abort', onOuterAbort);
    controller.abort(new Error('run finished'));
  }
}
