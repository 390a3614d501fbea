/** Jest: unit tests (test/unit), the C tests of the plugin (test/spank), end-to-end (test/e2e). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  testTimeout: 60000,
  // The run is named and /tmp noted before it; test/final/ runs last and lists what was left there.
  globalSetup: '<rootDir>/test/lib/global-setup.js',
  globalTeardown: '<rootDir>/test/lib/global-teardown.js',
  testSequencer: '<rootDir>/test/lib/sequencer.js',
  // Jest's transform cache stays in the checkout, not in /tmp.
  cacheDirectory: '<rootDir>/build/jest-cache',
};
