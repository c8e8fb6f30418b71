// ULIDs (https://github.com/ulid/spec): 48-bit millisecond time + 80 random bits in Crockford
// base32. Time-sortable, so ids double as a stable tie-breaker in keyset cursors.
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomBytes(count: number): Buffer {
  // One getrandom call per ~400 ids instead of one per id.
  if (poolOffset + count > pool.length) {
    pool = randomFillSync(Buffer.alloc(RANDOM_POOL_SIZE));
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + count);
  poolOffset += count;
  return bytes;
}

export function ulid(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let random = '';
  for (let i = 0; i < 16; i++) random += ALPHABET[bytes[i]! % 32];
  return time + random;
}

export const newCallId = (now?: number): string => `call_${ulid(now)}`;
export const newAgentId = (now?: number): string => `agent_${ulid(now)}`;
