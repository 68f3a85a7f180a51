import { z } from 'zod';

/**
 * Shared parameter pieces. gobearmon decoded `checks.data` with Go's encoding/json, so a
 * missing key (or null) means the zero value, unknown keys are ignored, and a value of the
 * wrong JSON type is an error. These helpers keep those semantics.
 */
export function withDefault<T extends z.ZodType>(schema: T, fallback: z.output<T>) {
  return schema.nullish().transform((v) => (v ?? fallback) as z.output<T>);
}

export const str = (fallback = '') => withDefault(z.string().max(4096), fallback);
export const bool = () => withDefault(z.boolean(), false);

/** Timeout in seconds as the seed fixes it: 0 or absent means 10, then clamped to 3..30. */
export function clampTimeoutSeconds(raw: number): number {
  if (raw === 0) return 10;
  return Math.min(30, Math.max(3, raw));
}
export const timeoutSeconds = () =>
  withDefault(z.number().int(), 0).transform(clampTimeoutSeconds);

/** force_ip: 0 (either), 4 or 6. */
export const forceIp = () =>
  withDefault(z.union([z.literal(0), z.literal(4), z.literal(6)]), 0);

/** Text used in messages: bounded so a hostile target cannot flood logs. */
export function excerpt(text: string, max = 200): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}
