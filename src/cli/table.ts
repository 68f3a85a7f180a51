import { createRequire } from 'node:module';
import type TableType from 'cli-table3';
import { oneLine } from '../text.ts';

/** A cell: text or a number; null and undefined print as `-`. */
export type Cell = string | number | null | undefined;

export interface TableOptions {
  /** Per column; default left. Numbers read best right-aligned. */
  align?: ('left' | 'right')[];
  /**
   * Per column, the widest it may be: a longer value wraps onto more lines (at word
   * boundaries where it can). A column without one is as wide as its widest value:
   * nothing is ever cut off.
   */
  maxWidths?: (number | undefined)[];
}

/** Columns are this far apart, however long a value: two spaces never read as one. */
export const COLUMN_GAP = '  ';

// cli-table3 draws boxes by default; every border character blank except the one between
// columns gives a plain table that greps, diffs and pastes cleanly.
const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: COLUMN_GAP,
};

/**
 * Control characters in a value (a newline or a terminal escape in a hand-edited check
 * name) would break a row or drive the terminal: each run of them prints as one space.
 */
const printable = (cell: Cell): string => (cell === null || cell === undefined ? '-' : oneLine(String(cell)));

/**
 * A plain-text table for the CLI: a header row, then one row per value array. Columns are
 * sized by cli-table3, which measures display width (wide CJK characters count double, as
 * terminals draw them), and are always at least COLUMN_GAP apart. No trailing spaces.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[], options: TableOptions = {}): string {
  const columns = Math.max(headers.length, ...rows.map((r) => r.length));
  const cells = rows.map((row) => Array.from({ length: columns }, (_, i) => wrap(printable(row[i]), options.maxWidths?.[i])));
  const head = headers.map(printable);
  if ([head, ...cells].every((row) => row.every((cell) => PLAIN.test(cell)))) return plainTable(head, cells, columns, options);
  return drawnTable(head, cells, columns, options);
}

/** The table as cli-table3 draws it, lines without trailing spaces (exported for the test of plainTable). */
export function drawnTable(head: readonly string[], cells: readonly (readonly string[])[], columns: number, options: TableOptions = {}): string {
  const Table = loadTable();
  const table = new Table({
    ...(head.length > 0 ? { head: [...head] } : {}),
    chars: BORDERLESS,
    // No colours (the output is often piped) and no padding: COLUMN_GAP alone separates.
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
    colAligns: Array.from({ length: columns }, (_, i) => options.align?.[i] ?? 'left'),
  });
  table.push(...cells.map((row) => [...row]));
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/** One line of printable ASCII, not empty (cli-table3 sizes an empty cell its own way): one column per character. */
const PLAIN = /^[\x20-\x7e]+$/;

/**
 * The table cli-table3 draws (the same text: test/cli/table.test.ts compares them) when
 * every cell is one line of printable ASCII, without loading cli-table3 and its width
 * tables: `bearmon check list` and most tables print no other text.
 */
export function plainTable(head: readonly string[], cells: readonly (readonly string[])[], columns: number, options: TableOptions): string {
  const all = head.length > 0 ? [head, ...cells] : cells;
  const widths = Array.from({ length: columns }, (_, i) => Math.max(0, ...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    widths
      .map((width, i) => {
        const cell = row[i] ?? '';
        return options.align?.[i] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(COLUMN_GAP)
      .trimEnd();
  return all.map(line).join('\n');
}

let tableClass: typeof TableType | undefined;
/** cli-table3 (CommonJS), required by the first table that needs it. */
function loadTable(): typeof TableType {
  return (tableClass ??= createRequire(import.meta.url)('cli-table3') as typeof TableType);
}

/**
 * Breaks a value into lines of at most `width` characters, at spaces where it can, inside
 * a word longer than a line where it must. The table sizes each column to its widest line
 * itself: cli-table3's own wrapping is not used because, given a width, it cuts a word
 * longer than the width off with "…", and a value must never lose characters.
 */
export function wrap(text: string, width: number | undefined): string {
  if (width === undefined || text.length <= width) return text;
  const limit = Math.max(1, Math.floor(width));
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (candidate.length <= limit) {
      line = candidate;
      continue;
    }
    if (line !== '') lines.push(line);
    // By code points, so a character outside the BMP is never split in two.
    const rest = [...word];
    while (rest.length > limit) lines.push(rest.splice(0, limit).join(''));
    line = rest.join('');
  }
  lines.push(line);
  return lines.join('\n');
}
