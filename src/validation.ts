import { z } from 'zod';

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

/**
 * zod transform turning a string into an absolute http(s) URL, or an issue naming the
 * value. `noun` keeps each caller's wording ("protocol" for checks, "scheme" for contacts).
 */
export function toHttpUrl(noun: 'protocol' | 'scheme') {
  return (value: string, ctx: z.RefinementCtx): URL => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected an absolute http:// or https:// URL', input: value });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: `unsupported ${noun} "${url.protocol}", expected http or https`, input: value });
      return z.NEVER;
    }
    return url;
  };
}
