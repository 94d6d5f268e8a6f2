// `bitswitch train --backend webgpu` end to end without a GPU: Dawn on SwiftShader's Vulkan driver
// (shipped by Debian's chromium, .ci/browser-deps.sh) trains a tiny joint run, exports model.bsw,
// and the CPU runtime (integer kernels) must reproduce the trainer's test accuracy on it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime } from '@bitswitch/runtime';
import { testImages } from '../src/evaluate.ts';

const bin = new URL('../bin/bitswitch.mjs', import.meta.url).pathname;
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const TEST_IMAGES = 20;

function webgpuPackage(): boolean {
  try { createRequire(new URL('../../trainer/package.json', import.meta.url)).resolve('webgpu'); return true; } catch { return false; }
}

const skip = !existsSync(ICD) ? `${ICD} is missing (install Debian's chromium package: .ci/browser-deps.sh)`
  : !webgpuPackage() ? "the optional 'webgpu' package is not installed" : undefined;

if (skip) {
  console.log(`train-webgpu.test: skipped: ${skip}`);
  test.skip('bitswitch train --backend webgpu exports a file whose accuracy the runtime confirms', () => {});
} else {
  test('bitswitch train --backend webgpu exports a file whose accuracy the runtime confirms', async () => {
    const out = mkdtempSync(join(tmpdir(), 'bitswitch-webgpu-'));
    // a tiny small-cnn (SwiftShader runs a few images a second): 3 joint steps of 8 images
    const recipe = join(out, 'tiny.json');
    writeFileSync(recipe, JSON.stringify({ model: 'small-cnn', modelOptions: { channels: [4, 4, 4], hidden: 4 }, data: 'mnist', bits: [8, 4], pretrainEpochs: 0, epochs: 1, batchSize: 8, trainLimit: 24, testLimit: TEST_IMAGES, lr: 3e-3 }));
    const args = ['train', '--recipe', recipe, '--backend', 'webgpu', '--workers', '1', '--no-progress', '--out', join(out, 'run')];
    const env = { ...process.env, VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
    const stdout = await new Promise<string>((resolve, reject) => execFile(process.execPath, [bin, ...args], { env, timeout: 300_000 }, (err, so, se) => (err ? reject(new Error(`${err.message}\n${so}\n${se}`)) : resolve(so))));
    assert.match(stdout, /backend webgpu/);
    const summary = JSON.parse(readFileSync(join(out, 'run', 'summary.json'), 'utf8')) as { backend: string; accuracy: Record<string, number>; exportedAccuracy: Record<string, number> };
    assert.is(summary.backend, 'webgpu');
    const rt = await createRuntime(join(out, 'run', 'model.bsw'));
    const { images, labels, count } = await testImages('mnist', TEST_IMAGES);
    assert.is(count, TEST_IMAGES);
    for (const b of [8, 4]) {
      rt.setPrecision(b);
      const pred = rt.classify(images, count);
      const acc = pred.reduce((a, p, i) => a + (p === labels[i] ? 1 : 0), 0) / count;
      const trainer = summary.accuracy[`w${b}a${b}`]!;
      console.log(`  w${b}a${b}: trainer on webgpu ${trainer}, file read back on webgpu ${summary.exportedAccuracy[`w${b}a${b}`]}, runtime ${acc}`);
      // float32 sums in another order may flip one near-tie image
      assert.ok(Math.abs(acc - trainer) <= 1 / count + 1e-12, `w${b}a${b}: runtime ${acc} vs trainer ${trainer}`);
      assert.ok(Math.abs(summary.exportedAccuracy[`w${b}a${b}`]! - trainer) <= 1 / count + 1e-12);
    }
  });
}

test.run();
