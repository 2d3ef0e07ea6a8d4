/** rollback runs the engine with source and target swapped: its messages must name the user's inputs and servers. */
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { readInputs } from '../../src/inputs.js';
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

  it('cutover refuses reverse-replication over SSH before connecting anywhere', () => {
    const raw: Record<string, string> = {
      'source-url': 'postgres://a:b@127.0.0.1:5432/postgres',
      'target-url': 'postgres://a:b@127.0.0.1:5433/postgres',
      'source-ssh-host': 'db-old:22',
      'source-ssh-key': 'KEY',
      'reverse-replication': 'true',
    };
    let message = '';
    try {
      readInputs('cutover', (n) => raw[n]);
    } catch (e) {
      message = describeError(e);
    }
    expect(message).toMatch(/^input reverse-replication is not supported yet when the source is reached over SSH \(source-ssh-host\)/);
    expect(readInputs('cutover', (n) => (n === 'reverse-replication' ? 'false' : raw[n])).reverseReplication).toBe(false);
  });

  it('leaves words that only contain the role names alone', () => {
    expect(userWords('the sources and the targets; resource-url')).toBe('the sources and the targets; resource-url');
  });
});
