// What a page shows while its data loads, and when it could not: the same words and roles
// everywhere, so a screen reader hears "busy" and an alert the same way on every page.

/** "Loading the agents…", marked busy. */
export function Loading({ what }: { what: string }) {
  return (
    <p className="loading" aria-busy="true">
      Loading {what}…
    </p>
  );
}

/** "The agents could not be loaded: …", with what may help and a way to try again. */
export function LoadFailed({
  what,
  error,
  hint,
  onRetry,
}: {
  what: string;
  error: string;
  hint?: string;
  onRetry?: () => void;
}) {
  return (
    <div className="error-state" role="alert">
      <p>
        {what} could not be loaded: {error}
      </p>
      {hint !== undefined && <p>{hint}</p>}
      {onRetry !== undefined && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
