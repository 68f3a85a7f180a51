/**
 * How durations and sizes are written, read and shown. Keys keep the number their code
 * uses (milliseconds, seconds or bytes: the key's `unit` in schema.ts); people see one form
 * for all of them (`500ms`, `60s` → `1m`, `7d`, `1GB`), which the file accepts as well.
 */

/**
 * The number a key holds: `duration` milliseconds written with a suffix (`30s`); `ms` or
 * `s` a duration in that unit, where a bare number (as gobearmon-era files have it) is that
 * unit and a suffix is read too; `size` bytes written with a suffix (`1GB`).
 */
export type Unit = 'duration' | 'ms' | 's' | 'size';

export const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export type DurationSuffix = keyof typeof DURATION_MS;
export const SIZE_BYTES = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 } as const;

/** A duration in the largest unit that states it exactly: 60000 → `1m`, 1500 → `1500ms`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const suffix of ['d', 'h', 'm', 's'] as const) {
    if (ms % DURATION_MS[suffix] === 0) return `${ms / DURATION_MS[suffix]}${suffix}`;
  }
  return `${ms}ms`;
}

/** A size in the largest unit that states it exactly: 1073741824 → `1GB`, 0 → `0B`. */
export function formatSize(bytes: number): string {
  for (const suffix of ['TB', 'GB', 'MB', 'KB'] as const) {
    if (bytes !== 0 && bytes % SIZE_BYTES[suffix] === 0) return `${bytes / SIZE_BYTES[suffix]}${suffix}`;
  }
  return `${bytes}B`;
}

/** A key's number as people write it; anything that is not a finite number is returned as is. */
export function formatUnit(value: unknown, unit: Unit): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value;
  if (unit === 'size') return formatSize(value);
  return formatDuration(unit === 's' ? value * 1000 : value);
}

/**
 * What `bearmon config keys` and docs/OPERATIONS.md say a unit is: `duration` (written `500ms`,
 * `30s`, `15m`, `12h`, `7d`), noting what a bare number means where one is read, or `size`.
 */
export function describeUnit(unit: Unit): string {
  return { duration: 'duration', ms: 'duration; bare number = ms', s: 'duration; bare number = s', size: 'size' }[unit];
}
