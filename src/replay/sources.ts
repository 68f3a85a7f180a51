import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { LogRecord } from './run.ts';

/**
 * Splits a byte stream into lines exactly as `readline` (crlfDelay: Infinity) does: a line
 * ends at "\n", "\r\n" or a lone "\r"; a "\r" ending one chunk and a "\n" starting the next
 * are one ending; the text after the last ending is a line at the end if it is not empty;
 * undecodable bytes left at the very end are dropped. It works a whole chunk at a time
 * (no events, no per-line promise), and looks for "\r" only in chunks that hold one.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private sawReturn = false;

  /** Appends the lines the chunk completes to `lines`. */
  push(chunk: Buffer | string, lines: string[]): void {
    let text = this.decoder.write(chunk as Buffer);
    if (this.sawReturn) {
      if (text.charCodeAt(0) === 10) text = text.slice(1);
      this.sawReturn = false;
    }
    const newline = text.indexOf('\n');
    const ret = text.indexOf('\r');
    if (newline === -1 && ret === -1) {
      this.rest += text;
      return;
    }
    if (this.rest !== '') {
      text = this.rest + text;
      this.rest = '';
    }
    this.sawReturn = text.charCodeAt(text.length - 1) === 13;
    let start = 0;
    if (ret === -1) {
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        lines.push(text.slice(start, end));
        start = end + 1;
      }
    } else {
      const ending = /\r?\n|\r(?!\n)/g;
      for (let match = ending.exec(text); match !== null; match = ending.exec(text)) {
        lines.push(text.slice(start, match.index));
        start = ending.lastIndex;
      }
    }
    this.rest = text.slice(start);
  }

  /** Appends the last line if the input did not end with a line ending. */
  end(lines: string[]): void {
    if (this.rest.length > 0) lines.push(this.rest);
    this.rest = '';
  }
}

/** A file's line: where it was is worked out only if asked for (for a skipped line's message). */
class FileRecord implements LogRecord {
  constructor(
    readonly text: string,
    private readonly name: string,
    private readonly number: number,
  ) {}

  get where(): string {
    return `${this.name}:${this.number}`;
  }
}

/**
 * Lines of a file (or stdin for "-") as records numbered from 1, streamed in batches: one
 * batch per chunk read (about a megabyte of a file), so a reader handles a batch's lines
 * synchronously instead of awaiting each.
 */
export async function* fileRecordBatches(path: string): AsyncGenerator<LogRecord[]> {
  const input = path === '-' ? process.stdin : createReadStream(path, { highWaterMark: 1 << 20 });
  const name = path === '-' ? 'stdin' : path;
  const splitter = new LineSplitter();
  let number = 0;
  const lines: string[] = [];
  const batch = (): LogRecord[] => {
    const records = lines.map((text) => new FileRecord(text, name, ++number));
    lines.length = 0;
    return records;
  };
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    splitter.push(chunk, lines);
    if (lines.length > 0) yield batch();
  }
  splitter.end(lines);
  if (lines.length > 0) yield batch();
}

