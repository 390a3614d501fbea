// Bundle the helper into one ES module so that it starts as fast as Node allows:
// one file to read and compile, no module resolution at run time except koffi (native, external)
// and etcd3 (loaded only by a store with storage = etcd).
import { build } from 'esbuild';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

mkdirSync('build', { recursive: true });
await build({
  entryPoints: ['helper/src/main.ts'],
  outfile: 'build/krb5bridge.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['koffi', 'etcd3'],
  // koffi is CommonJS: give the bundle a require() so esbuild's interop can load it.
  banner: { js: "import { createRequire as __krb5bridgeCreateRequire } from 'node:module';\nconst require = __krb5bridgeCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
});

// etcd3 (the etcd v3 client) with its gRPC and protobuf dependencies as one CommonJS file in a
// package of its own, build/etcd3/, which scripts/install copies to node_modules/etcd3 beside the
// bundle: one file instead of ~60 packages. It reads its .proto files at run time from
// `<its lib dir>/../proto`, so they sit in build/etcd3/proto as in the npm package.
const etcd3 = JSON.parse(readFileSync('node_modules/etcd3/package.json', 'utf8'));
rmSync('build/etcd3', { recursive: true, force: true });
await build({
  entryPoints: ['node_modules/etcd3/lib/index.js'],
  outfile: 'build/etcd3/lib/index.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'eof',
  logLevel: 'warning',
});
cpSync('node_modules/etcd3/proto', 'build/etcd3/proto', { recursive: true });
cpSync('node_modules/etcd3/LICENSE', 'build/etcd3/LICENSE');
writeFileSync(
  'build/etcd3/package.json',
  JSON.stringify({ name: 'etcd3', version: etcd3.version, license: etcd3.license, main: 'lib/index.cjs', description: `etcd3 ${etcd3.version} and its dependencies bundled by krb5bridge's scripts/build-helper.mjs` }, null, 2) + '\n',
);

// A launcher for people at a shell; the plugin runs node with the bundle by absolute path instead.
writeFileSync('build/krb5bridge', '#!/bin/sh\nexec node "$(dirname "$(readlink -f "$0")")/krb5bridge.mjs" "$@"\n');
chmodSync('build/krb5bridge', 0o755);
