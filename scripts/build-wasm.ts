/** Rebuilds src/backend/wasm/kernels.generated.ts from wasm/*.ts. Run: npm run build:wasm */
import { writeFileSync } from 'node:fs';
import { GENERATED_PATH, compileKernels, generatedModule } from './lib/wasm-kernels.ts';

const binary = await compileKernels();
writeFileSync(GENERATED_PATH, generatedModule(binary));
console.log(`wrote ${GENERATED_PATH} (${binary.length} bytes of wasm)`);
