// Pareto frontier of accuracy against budget, and its plot (vega-lite compiled, rendered to SVG by vega in Node).
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export interface ParetoPoint {
  /** Budget metric of the SubNet (lower is cheaper), e.g. average bits. */
  cost: number;
  /** Top-1 accuracy in [0, 1]. */
  accuracy: number;
  name?: string;
  /** Text drawn beside the point (e.g. 'w4a4' for a uniform precision). */
  label?: string;
  /** The SubNet's bit per quantized layer (carried into JSON output, not plotted). */
  bits?: number[];
}

/**
 * The points no other point dominates (cost no higher and accuracy no lower, one strictly),
 * sorted by cost. Equal points are kept once.
 * paretoFrontier([{cost: 4, accuracy: .9}, {cost: 5, accuracy: .85}, {cost: 6, accuracy: .95}]) → costs 4, 6.
 */
export function paretoFrontier<T extends ParetoPoint>(points: readonly T[]): T[] {
  points.forEach((p, i) => {
    if (!Number.isFinite(p.cost)) throw new RangeError(`points[${i}].cost: expected a finite number, got ${p.cost}`);
    if (!Number.isFinite(p.accuracy)) throw new RangeError(`points[${i}].accuracy: expected a finite number, got ${p.accuracy}`);
  });
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.accuracy - a.accuracy);
  const frontier: T[] = [];
  for (const p of sorted) {
    if (frontier.length === 0 || p.accuracy > frontier[frontier.length - 1].accuracy) frontier.push(p);
  }
  return frontier;
}

export interface ParetoSeries {
  /** e.g. 'HASB' or 'uniform sampling'. */
  label: string;
  points: ParetoPoint[];
}

export interface PlotOptions {
  /** Axis title of the budget, e.g. 'average bit-width'. */
  xTitle: string;
  title?: string;
  width?: number;
  height?: number;
}

/** vega-lite spec: every SubNet as a faint point, each series' frontier as a line, series side by side by colour. */
export function paretoSpec(series: readonly ParetoSeries[], options: PlotOptions): TopLevelSpec {
  const rows = series.flatMap((s, k) => {
    const frontier = new Set(paretoFrontier(s.points));
    return s.points.map((p) => ({
      series: s.label, cost: p.cost, accuracy: p.accuracy, name: p.name ?? '', label: p.label ?? '', frontier: frontier.has(p), k,
    }));
  });
  const x = { field: 'cost', type: 'quantitative', title: options.xTitle, scale: { zero: false } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'top-1 accuracy', axis: { format: '.1%' }, scale: { zero: false } } as const;
  const color = { field: 'series', type: 'nominal', title: null } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title ?? 'Pareto frontier: accuracy against budget',
    width: options.width ?? 480,
    height: options.height ?? 320,
    data: { values: rows },
    layer: [
      { mark: { type: 'point', opacity: 0.35, filled: true, size: 20 }, encoding: { x, y, color } },
      {
        transform: [{ filter: 'datum.frontier' }],
        mark: { type: 'line', point: true, interpolate: 'step-after' },
        encoding: { x, y, color, order: { field: 'cost', type: 'quantitative' }, tooltip: [{ field: 'name' }, { field: 'cost' }, { field: 'accuracy' }] },
      },
      // Labels above the point for the first series, below for the second, so equal points stay readable.
      ...[0, 1].map((parity) => ({
        transform: [{ filter: `datum.label != '' && datum.k % 2 == ${parity}` }],
        mark: { type: 'text', align: 'left', dx: 5, dy: parity ? 10 : -6, fontSize: 10 },
        encoding: { x, y, color, text: { field: 'label' } },
      })),
    ],
  } as TopLevelSpec;
}

/** Renders a vega-lite spec to SVG in Node (headless view, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const { spec: compiled } = vegaLite.compile(spec);
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A self-contained HTML page around the SVG (no scripts, no network). */
export function svgToHtml(svg: string, title: string): string {
  const esc = title.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${esc}</title></head>\n<body>\n${svg}\n</body></html>\n`;
}
