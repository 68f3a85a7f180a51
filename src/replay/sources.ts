import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { LogRecord } from './run.ts';

/** Lines of a file (or stdin for "-") as records numbered from 1, streamed. */
export async function* fileRecords(path: string): AsyncGenerator<LogRecord> {
  const input = path === '-' ? process.stdin : createReadStream(path);
  const name = path === '-' ? 'stdin' : path;
  let number = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    number += 1;
    yield { text, where: `${name}:${number}` };
  }
}
