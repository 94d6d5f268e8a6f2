// `pnpm reproduce --check`, the quick form CI runs: every published model gives its card's counts
// on the first 1,000 test images, a changed card or file is caught, and results/REPORT.md is what
// the committed logs and cards give.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, readCards, type Card } from '../scripts/models.ts';
import { buildReport } from '../scripts/report.ts';

const root = new URL('..', import.meta.url).pathname;
const cards = readCards(root);

test('the committed models are published with cards', () => {
  assert.ok(cards.some((c) => c.name === 'mnist-cnn-w8642'), cards.map((c) => c.name).join(', '));
  for (const c of cards) assert.equal(Object.keys(c.runtime).sort(), c.bits.map((b) => `w${b}a${b}`).sort(), `${c.name}: one count per stored precision`);
});

test('every published model gives its card\'s counts on the first 1,000 test images', async () => {
  const lines: string[] = [];
  const problems = await check(root, true, (l) => lines.push(l));
  assert.equal(problems, [], problems.join('\n'));
  assert.is(lines.length, cards.length);
});

test('a card whose count differs, or a changed file, is reported', async () => {
  const card = cards.find((c) => c.name === 'mnist-cnn-w8642')!;
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-check-'));
  try {
    mkdirSync(join(dir, 'models'));
    const wrong: Card = structuredClone(card);
    wrong.runtime.w2a2.correctInSubset += 1;
    writeFileSync(join(dir, 'models', `${card.name}.card.json`), JSON.stringify(wrong));
    copyFileSync(join(root, 'models', card.file), join(dir, 'models', card.file));
    const problems = await check(dir, true, () => {});
    assert.is(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], `models/${card.file} w2a2: card says ${card.runtime.w2a2.correctInSubset + 1}/1000`);

    const bytes = new Uint8Array(readFileSync(join(root, 'models', card.file)));
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(dir, 'models', card.file), bytes);
    const changed = await check(dir, true, () => {});
    assert.equal(changed, [`models/${card.file}: sha256 differs from its card (${card.sha256.slice(0, 12)}…)`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('results/REPORT.md is what the committed logs and cards give', async () => {
  const { markdown } = await buildReport(root);
  assert.ok(markdown === readFileSync(join(root, 'results/REPORT.md'), 'utf8'), 'results/REPORT.md is stale: run pnpm reproduce --report and commit it');
  assert.match(markdown, /mnist-cnn-w8642\.bsw/);
});

test.run();
