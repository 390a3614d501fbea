/**
 * Jest globalSetup: name this test run (KRB5BRIDGE_TEST_RUN, which scripts/testcluster records in
 * each cluster's DIR/env as TC_RUN) and note what /tmp holds before it, so that
 * test/final/tmp-clean.test.ts, run last, can list what the tests left behind.
 */
const fs = require('node:fs');
const path = require('node:path');
const { otherRuns } = require('./other-runs');

module.exports = async function globalSetup() {
  const run = `${Date.now()}-${process.pid}`;
  const entries = {};
  for (const name of fs.readdirSync('/tmp')) {
    try {
      entries[name] = fs.lstatSync(path.join('/tmp', name)).ino;
    } catch {
      // gone already
    }
  }
  const dir = path.resolve(__dirname, '..', '..', 'build');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `tmp-before.${run}.json`);
  fs.writeFileSync(file, JSON.stringify({ run, entries, othersAtStart: otherRuns(run) }));
  process.env.KRB5BRIDGE_TEST_RUN = run;
  process.env.KRB5BRIDGE_TMP_SNAPSHOT = file;
};
