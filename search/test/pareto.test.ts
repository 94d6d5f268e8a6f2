import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { paretoFrontier, paretoSpec, renderSvg, svgToHtml, type ParetoPoint } from '../src/index.ts';
import { lcg } from './fixtures.ts';

const pt = (cost: number, accuracy: number, name?: string): ParetoPoint => ({ cost, accuracy, name });

test('paretoFrontier by hand: dominated, tied and duplicate points', () => {
  const f = paretoFrontier([pt(5, 0.85), pt(4, 0.9), pt(6, 0.95), pt(6, 0.94), pt(4, 0.9), pt(3, 0.5), pt(7, 0.95)]);
  assert.equal(f.map((p) => [p.cost, p.accuracy]), [[3, 0.5], [4, 0.9], [6, 0.95]]);
  assert.equal(paretoFrontier([]), []);
  assert.throws(() => paretoFrontier([pt(1, NaN)]), /points\[0\]\.accuracy/);
});

test('paretoFrontier agrees with the O(n²) definition on random point sets', () => {
  const rand = lcg(99);
  for (let k = 0; k < 200; k++) {
    const pts = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => pt(Math.floor(rand() * 10), Math.floor(rand() * 10) / 10));
    const dominated = (p: ParetoPoint) => pts.some((q) => q.cost <= p.cost && q.accuracy >= p.accuracy && (q.cost < p.cost || q.accuracy > p.accuracy));
    const want = [...new Set(pts.filter((p) => !dominated(p)).map((p) => `${p.cost}:${p.accuracy}`))].sort();
    const got = paretoFrontier(pts).map((p) => `${p.cost}:${p.accuracy}`);
    assert.equal([...got].sort(), want);
    for (let i = 1; i < got.length; i++) assert.ok(paretoFrontier(pts)[i].cost > paretoFrontier(pts)[i - 1].cost);
  }
});

test('the plot renders to SVG with both series and the frontier', async () => {
  const series = [
    { label: 'HASB', points: [pt(3, 0.8, 'a'), pt(4, 0.88, 'b'), pt(4.5, 0.86, 'c'), { ...pt(6, 0.91, 'd'), label: 'w6a6' }] },
    { label: 'uniform sampling', points: [pt(3, 0.7), pt(4, 0.84), pt(6, 0.9)] },
  ];
  const spec = paretoSpec(series, { xTitle: 'average bit-width' });
  const rows = (spec as { data: { values: { frontier: boolean; name: string }[] } }).data.values;
  assert.is(rows.length, 7);
  assert.equal(rows.filter((r) => r.frontier).map((r) => r.name), ['a', 'b', 'd', '', '', '']);
  const svg = await renderSvg(spec);
  assert.ok(svg.startsWith('<svg'), svg.slice(0, 40));
  assert.ok(svg.includes('</svg>'));
  for (const text of ['HASB', 'uniform sampling', 'average bit-width', 'top-1 accuracy', 'w6a6']) assert.ok(svg.includes(text), `SVG lacks "${text}"`);
  assert.ok((svg.match(/<path/g) ?? []).length >= 7, 'points and lines drawn');
  const html = svgToHtml(svg, 'a <b> title');
  assert.ok(html.includes('<title>a &lt;b&gt; title</title>') && html.includes(svg));
});

test.run();
