/**
 * Set when the server is shutting down (an AbortSignal, as startSweeper gives its sweeps): work
 * done in batches looks at it between batches and ends after the batch in hand, so a shutdown
 * waits for one batch rather than for a whole round.
 */
export type Stopping = Pick<AbortSignal, 'aborted'>;
