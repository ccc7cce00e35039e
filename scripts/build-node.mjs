#!/usr/bin/env node
/**
 * Bundles the Node entry points (the CLI and the benchmark) into dist/node/, one file each,
 * every dependency inlined but Dawn's native binding (the `webgpu` package), so they run on
 * a machine with Node and that package alone:  node dist/node/run.mjs tandem|bench [args...]
 */

import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(root, 'dist/node');

await build({
  root,
  configFile: resolve(root, 'vite.config.ts'),
  logLevel: 'warn',
  publicDir: false,
  ssr: { noExternal: true, external: ['webgpu'] },
  build: {
    ssr: true,
    outDir,
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: {
      input: { tandem: resolve(root, 'src/cli/main.ts'), bench: resolve(root, 'bench/cli.ts') },
      external: ['webgpu'],
      output: { format: 'es', entryFileNames: '[name].mjs' },
    },
  },
});

writeFileSync(
  resolve(outDir, 'run.mjs'),
  `// node run.mjs tandem|bench [args...]
const [name, ...args] = process.argv.slice(2);
const { main } = await import(\`./\${name}.mjs\`);
process.exit(await main(args));
`,
);
console.log(`built ${outDir}`);
