/**
 * Regions and sites: where a worker runs, as its operator names them (`[worker] region`,
 * `site`). A region is a vantage point (a data centre, a cloud region); a site is finer
 * (a rack, an availability zone) and is only reported. Checks may ask for a change to be
 * seen from several regions (`checks.min_regions`).
 */

/** Lower-case letters, digits, `_` and `-`, 1-32 characters, starting with a letter or digit. */
export const REGION_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The region of a worker that names none (every gobearmon worker): all such workers are one region. */
export const DEFAULT_REGION = 'default';

/** Most regions a check may ask for (more is a typo, not a topology). */
export const MAX_MIN_REGIONS = 16;

export function isRegion(value: unknown): value is string {
  return typeof value === 'string' && REGION_PATTERN.test(value);
}

/** A result's or heartbeat's region as a reader uses it: absent (an older worker) is the default region. */
export function regionOr(value: string | undefined): string {
  return value ?? DEFAULT_REGION;
}
