/**
 * vitest setup (every test file): CI runs the tests inside a GitHub Actions job, whose
 * GITHUB_ACTIONS=true would turn on cutover's and rollback's approval gate (src/github/approval.ts)
 * in every test that switches; the gate's own test (test/integration/approval.test.ts) sets it,
 * with a stand-in for the REST API. Children that act as the runner (test/e2e/run-dist.ts) get
 * their environment spelled out.
 */
delete process.env.GITHUB_ACTIONS;
