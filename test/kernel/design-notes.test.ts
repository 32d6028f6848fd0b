/**
 * The design notes are evidence only while they re-execute to what is saved: `npm test` runs the
 * notes runner in check mode over notebooks/, so an engine change that alters any saved output
 * (a stale note) fails here with the runner's diff instead of going unnoticed.
 */
import { describe, expect, it } from 'vitest';
import { notesCli } from './helpers';

describe('design notes', () => {
  // About 15 s on a quiet 2-core machine; the bound is for a loaded one.
  it('re-execute to their saved outputs (npm run notes -- --check)', { timeout: 900_000 }, async () => {
    // The subprocess limit (run's default: 300 s) only stops a hung runner; it follows the test's bound.
    const r = await notesCli(['--check', '--no-report'], { limitMs: 880_000 });
    // The runner prints which notebook changed and how; show it when the check fails.
    expect(r.code, r.stderr).toBe(0);
  });
});
