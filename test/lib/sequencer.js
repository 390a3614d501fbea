/**
 * Jest's default order (failed and slow files first), except that test/final/ runs last: it checks
 * what the whole run left behind (test/final/tmp-clean.test.ts).
 */
const Sequencer = require('@jest/test-sequencer').default;

const isFinal = (t) => /[\\/]test[\\/]final[\\/]/.test(t.path);

class FinalLast extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((t) => !isFinal(t)), ...sorted.filter(isFinal)];
  }
}

module.exports = FinalLast;
