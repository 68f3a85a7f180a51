import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { drawnTable, plainTable, renderTable, wrap } from '../../src/cli/table.ts';

describe('renderTable', () => {
  it('sizes each column to its widest value, two spaces apart, without trailing spaces; numbers may align right', () => {
    expect(renderTable(['ID', 'NAME', 'STATE'], [[7, 'web', 'online'], [1234, 'a-very-long-check-name', null]], { align: ['right'] })).toBe(
      ['  ID  NAME                    STATE', '   7  web                     online', '1234  a-very-long-check-name  -'].join('\n'),
    );
  });

  it('keeps a value whole however long; a row stays one line unless a width is given', () => {
    const name = 'n'.repeat(300);
    const lines = renderTable(['A', 'B'], [[name, 'x']]).split('\n');
    expect(lines).toEqual([`A${' '.repeat(301)}B`, `${name}  x`]);
  });

  it('measures wide characters as the terminal draws them (two columns each)', () => {
    expect(renderTable(['NAME', 'STATE'], [['監視', 'online'], ['ab', 'offline']]).split('\n')).toEqual(['NAME  STATE', '監視  online', 'ab    offline']);
  });

  it('prints a control character (a newline or an escape in a name) as a space: a row is never broken or coloured by a value', () => {
    expect(renderTable(['A', 'B'], [['x\ny\u001b[31m', 'z']])).toBe('A         B\nx y [31m  z');
  });

  it('wraps a column given a width at spaces, and inside a word longer than the width, losing nothing', () => {
    const table = renderTable(['ID', 'MESSAGE'], [[1, 'connection refused by 127.0.0.1:9 averyveryverylongword']], { maxWidths: [undefined, 12] });
    expect(table.split('\n')).toEqual(['ID  MESSAGE', '1   connection', '    refused by', '    127.0.0.1:9', '    averyveryver', '    ylongword']);
  });
});

describe('wrap', () => {
  it('splits at spaces where it can and by code points where it must', () => {
    expect(wrap('a bb ccc dddd', 4)).toBe('a bb\nccc\ndddd');
    expect(wrap('😀😀😀', 2)).toBe('😀😀\n😀');
    expect(wrap('short', undefined)).toBe('short');
  });
});

describe('plainTable (one-line ASCII tables without cli-table3)', () => {
  it('draws exactly what cli-table3 draws', () => {
    const cell = fc.stringMatching(/^[\x20-\x7e]{1,12}$/);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }).chain((columns) =>
          fc.record({
            columns: fc.constant(columns),
            head: fc.oneof(fc.constant([] as string[]), fc.array(cell, { minLength: columns, maxLength: columns })),
            rows: fc.array(fc.array(cell, { minLength: columns, maxLength: columns }), { maxLength: 6 }),
            align: fc.array(fc.constantFrom('left' as const, 'right' as const), { minLength: columns, maxLength: columns }),
          }),
        ),
        ({ columns, head, rows, align }) => {
          expect(plainTable(head, rows, columns, { align })).toBe(drawnTable(head, rows, columns, { align }));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves every other table to cli-table3: renderTable draws what cli-table3 draws, empty cells and wide characters included', () => {
    const cell = fc.oneof(fc.stringMatching(/^[\x20-\x7e]{0,6}$/), fc.constantFrom('', '監視', 'é', '😀'));
    fc.assert(
      fc.property(fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { maxLength: 5 }), fc.array(cell, { minLength: 3, maxLength: 3 }), (rows, head) => {
        expect(renderTable(head, rows)).toBe(drawnTable(head, rows, 3));
      }),
      { numRuns: 300 },
    );
  });

  it('is what renderTable uses for such tables', () => {
    const rows = [[1, 'web', 'http', null], [12, 'db', 'tcp', 'x y']];
    expect(renderTable(['ID', 'NAME', 'TYPE', 'DATA'], rows, { align: ['right'] })).toBe(drawnTable(['ID', 'NAME', 'TYPE', 'DATA'], [['1', 'web', 'http', '-'], ['12', 'db', 'tcp', 'x y']], 4, { align: ['right'] }));
  });
});
