import type { NatsConnection } from '@nats-io/transport-node';
import { familyOf, type SubjectFamily } from './bus/subjects.ts';

type Payload = Record<string, unknown>;

const str = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
const time = (v: unknown) => (typeof v === 'string' ? v.slice(11, 23) : new Date().toISOString().slice(11, 23));

/** One readable line per event family: time, kind, check, worker, status, message. */
const FORMATS: Record<SubjectFamily, (p: Payload) => string> = {
  result: (p) => `${time(p.at)}  result      check ${str(p.checkId).padEnd(6)} ${str(p.worker).padEnd(14)} ${str(p.status).padEnd(13)} ${str(p.message)}`,
  check: (p) => `${time(p.at)}  check       check ${str(p.checkId).padEnd(6)} ${'-'.padEnd(14)} ${str(p.status).padEnd(13)} interval ${str(p.interval)}s delay ${str(p.delay)}`,
  transition: (p) => `${time(p.at)}  TRANSITION  check ${str(p.checkId).padEnd(6)} ${'-'.padEnd(14)} ${`${str(p.from)}->${str(p.to)}`.padEnd(13)} after ${str(p.rounds)} round(s)`,
  decision: (p) => `${time(p.at)}  ${str(p.type).padEnd(11)} check ${str(p.checkId).padEnd(6)} ${str(p.worker ?? (p.workers as string[] | undefined)?.join(',')).padEnd(14)} ${str(p.suspected ?? p.status).padEnd(13)} ${p.round ? `round ${str(p.round)}/${str(p.of)}` : ''}`,
  notify: (p) => `${time(p.at)}  notify      check ${str(p.checkId).padEnd(6)} ${str(p.contact).padEnd(14)} ${str(p.outcome).padEnd(13)} ${str(p.message)}`,
  assign: (p) => `${time(p.at)}  assign      check ${str(p.checkId).padEnd(6)} ${str(p.worker).padEnd(14)} ${str(p.kind ?? 'run').padEnd(13)} ${str(p.assignment)}`,
  run: (p) => `${time(p.at)}  run         check ${str(p.checkId).padEnd(6)} ${'-'.padEnd(14)} ${str(p.checkType).padEnd(13)} ${str(p.assignment)}`,
  worker: (p) => `${time(p.at)}  heartbeat   ${' '.repeat(12)} ${str(p.worker).padEnd(14)} ${`${str(p.running)}/${str(p.capacity)} busy`.padEnd(13)}`,
  ping: (p) => `${time(p.at)}  ping        ${' '.repeat(12)} ${str(p.worker).padEnd(14)}`,
  pong: (p) => `${time(p.at)}  pong        ${' '.repeat(12)} ${str(p.worker).padEnd(14)}`,
  view: (p) => `${time(p.at)}  VIEW        view ${str(p.view).padEnd(7)} ${str(p.controller).padEnd(14)} controller`,
  control: (p) => `${time(p.at)}  control     ${JSON.stringify(p).slice(0, 120)}`,
};

/** Formats one message for `bearmon trace`; foreign or malformed payloads print raw. */
export function formatEvent(subject: string, data: string): string {
  const family = familyOf(subject);
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    return `${subject}  ${data}`;
  }
  if (!family || typeof payload !== 'object' || payload === null) return `${subject}  ${data}`;
  return FORMATS[family](payload as Payload);
}

/** Subscribes and prints until the connection closes. Same information as `nats sub`, readable. */
export async function trace(nc: NatsConnection, options: { subject: string; json: boolean }, print: (line: string) => void): Promise<void> {
  const sub = nc.subscribe(options.subject);
  for await (const m of sub) print(options.json ? `${m.subject} ${m.string()}` : formatEvent(m.subject, m.string()));
}
