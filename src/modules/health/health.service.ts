import { ServiceUnavailableError } from '../../errors.js';
import type { HealthRepository } from './health.repository.js';

const READY_TIMEOUT_MS = 2000;

export type HealthService = ReturnType<typeof createHealthService>;

export function createHealthService({ health }: { health: HealthRepository }) {
  return {
    /** Resolves when the database answers within READY_TIMEOUT_MS; otherwise a 503. */
    async ready(): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new ServiceUnavailableError('the database did not answer in time')),
          READY_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([health.ping(), timeout]);
      } catch (error) {
        if (error instanceof ServiceUnavailableError) throw error;
        throw new ServiceUnavailableError('the database is unreachable');
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
