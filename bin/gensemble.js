#!/usr/bin/env node
// Entry point of the `gensemble` CLI: runs the TypeScript sources through tsx, so no build step is
// needed after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv);
// A command that finished but failed (e.g. `serve` after a fatal consumer error) set process.exitCode
// itself: a 0 from main must not overwrite it.
if (code !== 0 || !process.exitCode) process.exitCode = code;
