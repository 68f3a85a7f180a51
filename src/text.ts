/** At most `max` characters: a longer text is cut and ends in an ellipsis (which counts). */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Each run of control characters as one space: a newline or terminal escape in a hand-edited value must not break a line of output. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

/** `check 12 (api-health)` wherever a check is printed; `check 12` when its name is not known. */
export function checkLabel(checkId: unknown, name: string | undefined): string {
  return name === undefined || name === '' ? `check ${String(checkId)}` : `check ${String(checkId)} (${oneLine(name)})`;
}
