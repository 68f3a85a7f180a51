import type { z } from 'zod';

/** Renders a value for an error message: JSON, bounded in length. */
export function showValue(value: unknown, max = 80): string {
  let text: string;
  try {
    text = value === undefined ? 'undefined' : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * One line naming the field, the problem and the offending value, e.g.
 * `timeout: Invalid input: expected number, received string (value "ten")`.
 */
export function describeIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .map((issue) => {
      const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)';
      const value = 'input' in issue ? ` (value ${showValue(issue.input)})` : '';
      return `${field}: ${issue.message}${value}`;
    })
    .join('; ');
}
