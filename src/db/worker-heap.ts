// The young generation of the database's worker threads (the readers, the search indexer, the
// writer thread). npm start sets --max-semi-space-size=8 for the main thread's request handling
// (README, "Memory: the heap flags npm start sets"). V8 sizes every isolate's young generation
// from that flag when it is set and then ignores a worker's own resourceLimits, so each reader
// grew an 8 MB young generation for a statement's rows that are gone before its next message.
// The flag is cleared before the first worker starts: the main isolate keeps the size it was
// made with (V8 reads the flag when it makes an isolate), and each worker gets its own.
import v8 from 'node:v8';
import type { ResourceLimits } from 'node:worker_threads';

/**
 * A worker's young generation in MB: V8 makes it two semispaces of a third each and a third for
 * large objects.
 */
export const WORKER_YOUNG_GENERATION_MB = {
  /**
   * The readers and the search indexer: 2 MB semispaces. At a million calls this took 3–20 MiB
   * off the server's peak under searches and stats at the same rates (README, "The worker
   * threads' young generation"); at 1 MB semispaces the stats answered 70–73 a second against
   * 86–92.
   */
  reader: 6,
  /**
   * The writer thread: 4 MB semispaces. Its batches allocate about 90 KB a write. With 8 MB
   * semispaces (the main thread's) the server's peak under ingest at a million calls was
   * 215–217 MiB, with 4 MB 205–206 at the same rates (alternating runs, 2026-12-06). With 2 MB
   * the peak was no lower (206–209), and earlier its collections took 7.6 % of its time
   * instead of 1.9 % (--trace-gc), on the thread that every write waits for.
   */
  writer: 12,
} as const;

let flagCleared = false;

export function workerResourceLimits(youngGenerationMb: number): ResourceLimits {
  if (!flagCleared) {
    // 0 is V8's "not set": isolates made from now on take their resourceLimits.
    v8.setFlagsFromString('--max-semi-space-size=0');
    flagCleared = true;
  }
  return { maxYoungGenerationSizeMb: youngGenerationMb };
}
