/**
 * CPU time of another process (nats-server) from /proc/<pid>/stat, so a bench can say
 * where the machine's cores went. Undefined where /proc is not readable.
 */
import { readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat on Linux (USER_HZ). */
const USER_HZ = 100;

export async function processCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return Number.isFinite(ticks) ? (ticks * 1000) / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

export const cpuMicrosMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

/** Busy and total CPU time of the whole machine (all cores) from /proc/stat, in ms. */
export async function machineCpuMs(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle + iowait
    return { busy: ((total - idle) * 1000) / USER_HZ, total: (total * 1000) / USER_HZ };
  } catch {
    return undefined;
  }
}
