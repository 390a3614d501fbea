// Bundle the helper into one ES module so that it starts as fast as Node allows:
// one file to read and compile, no module resolution at run time except koffi (native, external).
import { build } from 'esbuild';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';

mkdirSync('build', { recursive: true });
await build({
  entryPoints: ['helper/src/main.ts'],
  outfile: 'build/krb5bridge.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi'],
  // koffi is CommonJS: give the bundle a require() so esbuild's interop can load it.
  banner: { js: "import { createRequire as __krb5bridgeCreateRequire } from 'node:module';\nconst require = __krb5bridgeCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
// A launcher for people at a shell; the plugin runs node with the bundle by absolute path instead.
writeFileSync('build/krb5bridge', '#!/bin/sh\nexec node "$(dirname "$(readlink -f "$0")")/krb5bridge.mjs" "$@"\n');
chmodSync('build/krb5bridge', 0o755);
