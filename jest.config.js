/**
 * Jest, one project per kind of test (`--selectProjects` picks them; see the Makefile):
 *   static       test/static       type check, lint, shellcheck, paths named in the docs
 *   unit         test/unit         pure helper logic, no daemon
 *                test/spank        the plugin's C tests (TAP, natively and under valgrind)
 *   integration  test/integration  real daemons but no Slurm: a throwaway KDC, munged
 *   e2e          test/e2e          the real cluster (scripts/testcluster), the demo
 *   final        test/final        runs last: what the whole run left in /tmp
 */
const base = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Jest's transform cache stays in the checkout, not in /tmp.
  cacheDirectory: '<rootDir>/build/jest-cache',
};
const project = (displayName, ...dirs) => ({ ...base, displayName, roots: dirs.map((d) => `<rootDir>/test/${d}`) });

module.exports = {
  projects: [
    project('static', 'static'),
    project('unit', 'unit', 'spank'),
    project('integration', 'integration'),
    project('e2e', 'e2e'),
    project('final', 'final'),
  ],
  testTimeout: 60000,
  // The run is named and /tmp noted before it; test/final/ runs last and lists what was left there.
  globalSetup: '<rootDir>/test/lib/global-setup.js',
  globalTeardown: '<rootDir>/test/lib/global-teardown.js',
  testSequencer: '<rootDir>/test/lib/sequencer.js',
};
