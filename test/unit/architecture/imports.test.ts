/**
 * The layout shows the architecture (ARCHITECTURE.md): arrows point down, and nothing points back up.
 * Read from the source itself (every static `import … from`, `export … from` and dynamic `import()`
 * specifier of src/, consumers/, producers/), so a new file cannot slip past:
 *   - nothing in src/ imports from consumers/, producers/, benchmarks/ or scripts/;
 *   - src/engine knows nothing of Kafka, PostgreSQL or kinds (no stream, store, kinds, detector,
 *     console, commands, replay, http; no kafkajs, pg, knex);
 *   - no import cycles among the modules of src/ (type-only imports included: a cycle of types is a
 *     cycle of meaning).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const SPEC = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Import specifiers of a file (comments stripped first). */
export function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const m of code.matchAll(SPEC)) out.push(m[1] ?? m[2]);
  return out;
}

/** A relative specifier resolved to the repository path of its .ts file. */
function target(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return relative(ROOT, resolve(dirname(from), spec)).replace(/\.js$/, '.ts');
}

const files = ['src', 'consumers', 'producers'].flatMap((d) => tsFiles(join(ROOT, d)));
const edges = new Map<string, { spec: string; to: string | null }[]>(
  files.map((f) => [
    relative(ROOT, f),
    specifiers(readFileSync(f, 'utf8')).map((spec) => ({ spec, to: target(f, spec) })),
  ]),
);

describe('the import graph', () => {
  it('finds the imports it is meant to check (the parser is not blind)', () => {
    expect(
      specifiers(
        `import { a } from './a.js';\nexport type { B } from "../b.js";\nconst m = await import('./c.js');`,
      ),
    ).toEqual(['./a.js', '../b.js', './c.js']);
    expect(edges.get('src/stream/service.ts')!.map((e) => e.to)).toContain('src/stream/kind-consumer.ts');
    expect(edges.size).toBeGreaterThan(100);
  });

  it('nothing in src/ imports from consumers/, producers/, benchmarks/ or scripts/', () => {
    const up: string[] = [];
    for (const [file, es] of edges)
      if (file.startsWith('src/'))
        for (const e of es) if (e.to !== null && !e.to.startsWith('src/')) up.push(`${file} → ${e.spec}`);
    expect(up).toEqual([]);
  });

  it('src/engine knows nothing of Kafka, PostgreSQL or input kinds', () => {
    const banned = /^src\/(stream|store|kinds|detector|console|commands|replay|http)\//;
    const bad: string[] = [];
    for (const [file, es] of edges)
      if (file.startsWith('src/engine/'))
        for (const e of es)
          if ((e.to !== null && banned.test(e.to)) || /^(kafkajs|pg|knex)$/.test(e.spec))
            bad.push(`${file} → ${e.spec}`);
    expect(bad).toEqual([]);
  });

  it('no import cycles in src/', () => {
    const graph = new Map<string, string[]>();
    for (const [file, es] of edges)
      if (file.startsWith('src/'))
        graph.set(
          file,
          es.map((e) => e.to).filter((t): t is string => t !== null && t.startsWith('src/')),
        );
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const cycles: string[] = [];
    const visit = (n: string): void => {
      state.set(n, 1);
      stack.push(n);
      for (const m of graph.get(n) ?? []) {
        if (state.get(m) === 1) cycles.push([...stack.slice(stack.indexOf(m)), m].join(' → '));
        else if (!state.has(m)) visit(m);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const n of graph.keys()) if (!state.has(n)) visit(n);
    expect(cycles).toEqual([]);
  });
});
