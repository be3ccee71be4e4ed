#!/usr/bin/env node
// Entry point of the `gensemble` CLI: runs the TypeScript sources through tsx, so no build step is
// needed after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv);
