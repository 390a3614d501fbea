// Bundle the helper into ES modules so that it starts as fast as Node allows: one entry file to
// read and compile, no module resolution at run time except koffi (native, external) and the
// chunks esbuild splits off. Code that only `krb5bridge gateway` loads (fastify and the gateway,
// imported dynamically) goes into build/chunks/ and is never read by the other verbs, whose
// start-up time the plugin pays on every job step that runs the helper.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

mkdirSync('build', { recursive: true });
rmSync('build/chunks', { recursive: true, force: true });
await build({
  entryPoints: { krb5bridge: 'helper/src/main.ts' },
  outdir: 'build',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi'],
  // koffi is CommonJS: give each module a require() so esbuild's interop can load it.
  banner: { js: "import { createRequire as __krb5bridgeCreateRequire } from 'node:module';\nconst require = __krb5bridgeCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});
// A launcher for people at a shell; the plugin runs node with the bundle by absolute path instead.
writeFileSync('build/krb5bridge', '#!/bin/sh\nexec node "$(dirname "$(readlink -f "$0")")/krb5bridge.mjs" "$@"\n');
chmodSync('build/krb5bridge', 0o755);
