import { describe, expect, it } from 'vitest';
import { RoundClock } from '../../src/controller/next-round.ts';

const settled = { pendingSince: 0, rounds: 0, turn: [] as string[], delay: 1 };
const suspicion = (over: Partial<typeof settled> = {}) => ({ ...settled, pendingSince: 10_000, turn: ['w1'], ...over });

describe('RoundClock', () => {
  it('a suspicion begins: the next round is due one interval later, whether the first has answered or not', () => {
    const clock = new RoundClock();
    clock.observe(1, suspicion());
    expect(clock.nextDue(1, suspicion(), 2)).toBe(12_000);
  });

  it('once delay + 1 rounds are out, no more are due', () => {
    const clock = new RoundClock();
    clock.observe(1, suspicion());
    clock.roundSent(1);
    expect(clock.nextDue(1, suspicion(), 2)).toBeUndefined();
  });

  it('delay 3: rounds k go out at k intervals after the suspicion began', () => {
    const clock = new RoundClock();
    const pending = suspicion({ delay: 3 });
    clock.observe(1, pending);
    const dues = [];
    for (let k = 0; k < 4; k++) {
      dues.push(clock.nextDue(1, pending, 60));
      clock.roundSent(1);
    }
    expect(dues).toEqual([70_000, 130_000, 190_000, undefined]);
  });

  it('rounds completed on the regular schedule count too', () => {
    const clock = new RoundClock();
    clock.observe(1, suspicion({ delay: 2 }));
    const afterTwo = suspicion({ delay: 2, rounds: 2, turn: [] });
    clock.observe(1, afterTwo);
    expect(clock.nextDue(1, afterTwo, 60)).toBe(130_000);
  });

  it('a settled check has no round due, and a new suspicion starts over', () => {
    const clock = new RoundClock();
    clock.observe(1, suspicion());
    clock.roundSent(1);
    clock.observe(1, settled);
    expect(clock.nextDue(1, settled, 2)).toBeUndefined();
    const again = suspicion({ pendingSince: 50_000 });
    clock.observe(1, again);
    expect(clock.nextDue(1, again, 2)).toBe(52_000);
  });

  it('an unknown suspicion (taken over from another controller) is left to the regular schedule', () => {
    expect(new RoundClock().nextDue(1, suspicion(), 2)).toBeUndefined();
  });
});
