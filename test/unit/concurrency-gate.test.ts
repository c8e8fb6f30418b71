import { describe, expect, it } from 'vitest';
import { ConcurrencyGate } from '../../src/lib/concurrency-gate.js';

/** A task that runs until its test lets it end. */
function heldTask<T>(result: T, started: string[], name: string) {
  let finish!: (error?: Error) => void;
  const ended = new Promise<void>((resolve, reject) => {
    finish = (error) => (error === undefined ? resolve() : reject(error));
  });
  return {
    run: async () => {
      started.push(name);
      await ended;
      return result;
    },
    finish,
  };
}

/** Lets every promise callback that can run, run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ConcurrencyGate', () => {
  it('runs at most its limit at once and starts the rest in the order they came', async () => {
    const gate = new ConcurrencyGate(2);
    const started: string[] = [];
    const tasks = ['a', 'b', 'c', 'd', 'e'].map((name) => heldTask(`${name}!`, started, name));
    const answers = tasks.map((task) => gate.run(task.run));
    await settle();
    expect(started).toEqual(['a', 'b']);
    expect([gate.active, gate.queued]).toEqual([2, 3]);

    tasks[1]!.finish();
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    expect([gate.active, gate.queued]).toEqual([2, 2]);

    // A task arriving while others wait goes behind them, even as a slot frees.
    const late = heldTask('late!', started, 'late');
    const lateAnswer = gate.run(late.run);
    tasks[0]!.finish();
    await settle();
    expect(started).toEqual(['a', 'b', 'c', 'd']);

    for (const task of tasks.slice(2)) task.finish();
    late.finish();
    await expect(Promise.all([...answers, lateAnswer])).resolves.toEqual([
      'a!',
      'b!',
      'c!',
      'd!',
      'e!',
      'late!',
    ]);
    expect(started).toEqual(['a', 'b', 'c', 'd', 'e', 'late']);
    expect([gate.active, gate.queued]).toEqual([0, 0]);
  });

  it('gives a failed task its error and its slot to the next one', async () => {
    const gate = new ConcurrencyGate(1);
    const started: string[] = [];
    const failing = heldTask('never', started, 'failing');
    const next = heldTask('next!', started, 'next');
    const failed = gate.run(failing.run);
    const answered = gate.run(next.run);
    const thrown = gate.run(() => {
      throw new Error('thrown before any await');
    });
    await settle();
    expect(started).toEqual(['failing']);

    failing.finish(new Error('the read failed'));
    await expect(failed).rejects.toThrow('the read failed');
    await settle();
    expect(started).toEqual(['failing', 'next']);
    next.finish();
    await expect(answered).resolves.toBe('next!');
    await expect(thrown).rejects.toThrow('thrown before any await');
    expect([gate.active, gate.queued]).toEqual([0, 0]);
    // The slots all came back: a full limit runs again at once.
    await expect(gate.run(async () => 'again')).resolves.toBe('again');
  });

  it('refuses a limit that is not a whole number from 1', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => new ConcurrencyGate(limit)).toThrow(RangeError);
    }
  });
});
