/** rollback runs the engine with source and target swapped: its messages must name the user's inputs and servers. */
import { describe, expect, it } from 'vitest';
import { userWords } from '../../src/steps/rollback.js';

describe('rollback userWords', () => {
  it('swaps input names and server roles in one pass', () => {
    expect(userWords('target-url: cannot reach 127.0.0.1:5432')).toBe('source-url: cannot reach 127.0.0.1:5432');
    expect(userWords('source-stop-command failed (exit 1)')).toBe('target-stop-command failed (exit 1)');
    expect(userWords("the target did not apply the source's final position gtid:0-2-9")).toBe(
      "the old source did not apply the new primary's final position gtid:0-2-9",
    );
    // Not translated twice: the engine's "new primary" is the old source, its "old source" the migration target.
    expect(userWords('removed the passfile from the new primary; the old source is stopped')).toBe(
      'removed the passfile from the old source (primary again); the migration target is stopped',
    );
  });

  it('leaves words that only contain the role names alone', () => {
    expect(userWords('the sources and the targets; resource-url')).toBe('the sources and the targets; resource-url');
  });
});
