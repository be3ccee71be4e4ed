#!/usr/bin/env node
// Builds gensemble's fused native scorer (native/gensemble_native.cc) into
// build/native/gensemble_native.node with the system C++ compiler and Node's own N-API headers.
// `npm install` runs it (postinstall). Without a compiler or headers it prints why and exits 0: the
// product then scores with onnxruntime, which handles every model. Options by environment:
//   GENSEMBLE_NATIVE=off      skip the build
//   GENSEMBLE_NATIVE=require  exit 1 when the build fails (CI uses this)
//   CXX                       the compiler (default: c++, then g++, then clang++)
//   GENSEMBLE_NATIVE_MARCH    -march value (default native: the addon is built where it runs;
//                             set e.g. x86-64-v3 to build for other machines, or '' for none)
//   GENSEMBLE_NODE_INCLUDE    directory holding node_api.h (default: beside the running node)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.env.GENSEMBLE_NATIVE ?? 'auto';
const source = join(root, 'native', 'gensemble_native.cc');
const outDir = join(root, 'build', 'native');
const out = join(outDir, 'gensemble_native.node');

function give(reason) {
  if (mode === 'require') {
    console.error(`gensemble: the native scorer could not be built: ${reason}`);
    process.exit(1);
  }
  console.warn(`gensemble: native scorer not built (${reason}); scoring uses onnxruntime`);
  process.exit(0);
}

if (mode === 'off') {
  console.log('gensemble: GENSEMBLE_NATIVE=off, native scorer not built');
  process.exit(0);
}
if (!existsSync(source)) give(`${source} is missing`);

const includeCandidates = [
  process.env.GENSEMBLE_NODE_INCLUDE,
  join(dirname(process.execPath), '..', 'include', 'node'),
  '/usr/include/node',
  '/usr/local/include/node',
].filter((d) => d !== undefined && d !== '');
const include = includeCandidates.find((d) => existsSync(join(d, 'node_api.h')));
if (!include) give(`node_api.h not found in ${includeCandidates.join(', ')} (set GENSEMBLE_NODE_INCLUDE)`);

const compilers = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
const compiler = compilers.find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
if (!compiler) give(`no C++ compiler (${compilers.join(', ')}) on PATH`);

const march = process.env.GENSEMBLE_NATIVE_MARCH ?? 'native';
const tmp = `${out}.${process.pid}.tmp`;
const argsFor = (m) => [
  '-O3',
  '-std=c++17',
  '-shared',
  '-fPIC',
  '-pthread',
  '-fvisibility=hidden',
  '-Wno-psabi',
  '-DNODE_GYP_MODULE_NAME=gensemble_native',
  ...(m !== '' ? [`-march=${m}`] : []),
  ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
  `-I${include}`,
  '-o',
  tmp,
  source,
];
mkdirSync(outDir, { recursive: true });
const started = Date.now();
let used = march;
let r = spawnSync(compiler, argsFor(march), { encoding: 'utf8' });
if (r.status !== 0 && march === 'native') {
  // some compilers (e.g. Apple clang on arm64) do not take -march=native: build for the default target
  used = '';
  r = spawnSync(compiler, argsFor(''), { encoding: 'utf8' });
}
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  give(
    `${compiler} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-5).join(' | ')}`,
  );
}
renameSync(tmp, out); // atomic: a running process never sees a half-written addon
console.log(
  `gensemble: built the native scorer ${out} (${compiler}, -march=${used || 'default'}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
