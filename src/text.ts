/** At most `max` characters: a longer text is cut and ends in an ellipsis (which counts). */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
