// ROLLUP_COMPACT_SECONDS: how often PostgreSQL's rollup deltas are folded (config.ts).
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('ROLLUP_COMPACT_SECONDS', () => {
  it('defaults to every 5 seconds', () => {
    expect(loadConfig({}).maintenance.rollupCompactIntervalMs).toBe(5000);
  });

  it('takes whole seconds, 0 leaving it to the sweeps', () => {
    expect(loadConfig({ ROLLUP_COMPACT_SECONDS: '30' }).maintenance.rollupCompactIntervalMs).toBe(
      30_000,
    );
    expect(loadConfig({ ROLLUP_COMPACT_SECONDS: '0' }).maintenance.rollupCompactIntervalMs).toBe(0);
  });

  it.each(['-1', '2.5', 'often', '86401'])('refuses %s, naming the variable', (value) => {
    expect(() => loadConfig({ ROLLUP_COMPACT_SECONDS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ROLLUP_COMPACT_SECONDS: value })).toThrow(/ROLLUP_COMPACT_SECONDS/);
  });
});
