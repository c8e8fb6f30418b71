export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/** Normalises any accepted timestamp to ISO-8601 UTC with milliseconds, the stored form. */
export function toIsoUtc(value: string | Date): string {
  return (typeof value === 'string' ? new Date(value) : value).toISOString();
}
