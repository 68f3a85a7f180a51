import { describe, expect, it } from 'vitest';
import { renderTable, wrap } from '../../src/cli/table.ts';

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
