// Costs are stored as integer micro-dollars so sums are exact; the API speaks USD numbers.
const MICROS_PER_DOLLAR = 1_000_000;

export function dollarsToMicros(dollars: number): number {
  return Math.round(dollars * MICROS_PER_DOLLAR);
}

export function microsToDollars(micros: number): number {
  return micros / MICROS_PER_DOLLAR;
}
