/** Jest globalTeardown: remove this run's /tmp snapshot (test/lib/global-setup.js). */
const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const file = process.env.KRB5BRIDGE_TMP_SNAPSHOT;
  if (file) fs.rmSync(file, { force: true });
};
