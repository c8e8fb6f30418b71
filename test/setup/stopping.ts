// A shutdown that comes in the middle of batched work, at a point a test chooses.
import type { Stopping } from '../../src/lib/stopping.js';

/**
 * Not set for the first `checks` times it is looked at, then set: work that looks before each
 * batch stops after that many batches.
 */
export function stoppingAfter(checks: number): Stopping & { readonly checked: number } {
  let checked = 0;
  return {
    get aborted() {
      checked += 1;
      return checked > checks;
    },
    get checked() {
      return checked;
    },
  };
}
