import { isPending, type CheckContext } from '../machines/check.ts';

type RoundContext = Pick<CheckContext, 'pendingSince' | 'rounds' | 'turn' | 'delay'>;

/**
 * When the confirmation rounds of a suspected change go out (SPEC §3, issue 12).
 *
 * A suspicion needs `delay + 1` complete rounds. Round k (counting from 0, the one the
 * first disagreeing result began) is due `k * interval` after the suspicion began, whether
 * or not round k-1 has answered yet: a target that hangs for its whole timeout makes every
 * round last a timeout, and rounds that waited for each other would add a timeout per
 * round. So a hanging target is detected in about two timeouts plus `delay` intervals, and
 * the D rounds still span D intervals of sustained failure.
 *
 * The clock only says when; the controller sends the runs. Pure: time is an argument.
 */
export class RoundClock {
  /** Per pending check: the suspicion it is for, and how many rounds have gone out. */
  private readonly sent = new Map<number, { since: number; rounds: number }>();

  /** Follows the machine after a result: a new suspicion has sent its first round; a settled check none. */
  observe(checkId: number, context: RoundContext): void {
    if (!isPending(context)) return void this.sent.delete(checkId);
    const known = this.sent.get(checkId);
    if (known?.since !== context.pendingSince) this.sent.set(checkId, { since: context.pendingSince, rounds: 1 });
  }

  /** When the next round of this check is due; undefined when none is pending or every round has gone out. */
  nextDue(checkId: number, context: RoundContext, intervalS: number): number | undefined {
    const known = this.sent.get(checkId);
    if (!known || !isPending(context) || known.since !== context.pendingSince) return undefined;
    // Completed rounds count even when they went out on the regular schedule.
    const rounds = Math.max(known.rounds, context.rounds + (context.turn.length > 0 ? 1 : 0));
    if (rounds > context.delay) return undefined;
    return known.since + rounds * intervalS * 1000;
  }

  /** A round went out. */
  roundSent(checkId: number): void {
    const known = this.sent.get(checkId);
    if (known) known.rounds += 1;
  }

  forget(checkId: number): void {
    this.sent.delete(checkId);
  }
}
