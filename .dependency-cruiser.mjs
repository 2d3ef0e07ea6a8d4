/**
 * The dependency rule that `npm run lint` enforces (dependency-cruiser): no import cycles, shipped
 * code never reaches into tests or benchmarks, and the layers below the steps never import them.
 * The layer picture is in docs/architecture.md.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle (type-only imports count too): move the shared piece into a module of its own that both import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shipped-code-not-tests',
      severity: 'error',
      comment: 'src/ is what dist/ bundles: it must never import test/, bench/ or scripts/.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'lower-layers-not-steps',
      severity: 'error',
      comment:
        'Engines, checks, hosts, tuning, verify, report, checklist, sandbox, switch and lag sit below the steps: move what both need down (e.g. src/step-result.ts).',
      from: { path: '^src/(engines|checks|hosts|tuning|verify|report|checklist|sandbox|switch|lag)/' },
      to: { path: '^src/steps/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to no file: a typo, or a module that moved.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|coverage)/' },
    // Type-only imports are real edges for cycles and layering (madge counts them as well).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
