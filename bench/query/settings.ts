// How the benchmarks read their BENCH_* variables: a number with a floor, or a subset of a known
// list; anything else stops the run with a message naming the variable. (The node flags of
// `npm start`, which the servers under test run with, come from test/setup/server-process.ts.)

export function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number >= ${min} (got "${raw}")`);
  }
  return value;
}

/** A comma-separated subset of `known`, in `known`'s order; all of it when unset. */
export function envList<T extends string>(name: string, known: readonly T[]): T[] {
  const raw = process.env[name]?.trim();
  if (!raw) return [...known];
  const values = raw.split(',').map((value) => value.trim());
  const unknown = values.filter((value) => !known.includes(value as T));
  if (unknown.length > 0) {
    throw new Error(`unknown ${name} ${unknown.join(', ')}; known: ${known.join(', ')}`);
  }
  return known.filter((value) => values.includes(value));
}

/** NAME=value pairs, comma-separated ("A=1,B=x"); empty when unset. */
export function envAssignments(name: string): Record<string, string> {
  const raw = process.env[name]?.trim();
  if (!raw) return {};
  const assignments: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    const match = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair);
    if (match === null)
      throw new Error(`${name} takes NAME=value pairs, comma-separated (got "${pair}")`);
    assignments[match[1]!] = match[2]!.trim();
  }
  return assignments;
}

/** Words separated by white space ("--cpu-prof --cpu-prof-dir=/tmp/prof"); empty when unset. */
export function envWords(name: string): string[] {
  return process.env[name]?.split(/\s+/).filter(Boolean) ?? [];
}
