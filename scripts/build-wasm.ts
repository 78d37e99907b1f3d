/** Rebuilds src/backend/wasm/kernels.generated.ts from wasm/*.ts. Run: npm run build:wasm */
import { writeFileSync } from 'node:fs';
import { acceptNoArguments } from './lib/cli.ts';

acceptNoArguments(`usage: npm run build:wasm

Compiles the AssemblyScript kernels in wasm/ (SIMD; once owning its memory, once over a shared memory
for the thread pool) and rewrites src/backend/wasm/kernels.generated.ts, the module the wasm backend
loads. Run it after editing wasm/; a test fails while the two disagree.`);

// Loaded after the argument check: the compiler takes seconds to load, and --help should not wait for it.
const { GENERATED_PATH, compileKernels, generatedModule } = await import('./lib/wasm-kernels.ts');
const binaries = await compileKernels();
writeFileSync(GENERATED_PATH, generatedModule(binaries));
console.log(`wrote ${GENERATED_PATH} (${binaries.single.length} and ${binaries.shared.length} bytes of wasm)`);
