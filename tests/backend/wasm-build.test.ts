/**
 * The committed wasm (src/backend/wasm/kernels.generated.ts) is the build of its source (wasm/*.ts):
 * recompiles with the pinned `assemblyscript` and compares the bytes, so an edit to a kernel that was
 * not followed by `npm run build:wasm` fails here rather than shipping stale code.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { GENERATED_PATH, compileKernels, generatedModule } from '../../scripts/lib/wasm-kernels.ts';

it('kernels.generated.ts matches a fresh build of wasm/*.ts (run `npm run build:wasm` after editing them)', async () => {
  const binaries = await compileKernels();
  expect(binaries.single.length).toBeGreaterThan(1000);
  expect(binaries.shared.length).toBeGreaterThan(1000);
  expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(generatedModule(binaries));
}, 180_000);
