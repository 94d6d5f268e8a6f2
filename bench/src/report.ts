// A benchmark's report: lines printed as they come and saved, with the machine, the date and the
// load average at start and end, to bench/results/NAME.json (or --out FILE).
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '@bitswitch/format/node';
import { machineInfo } from './machine.ts';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

export class Report {
  private readonly lines: string[] = [];
  private readonly date = new Date().toISOString();
  private readonly loadAtStart = loadavg();
  readonly file: string;

  /** `name`: the file under bench/results/; a `--out FILE` argument replaces it. */
  constructor(readonly name: string, args: string[] = process.argv.slice(2)) {
    const i = args.indexOf('--out');
    this.file = i >= 0 && args[i + 1] ? args[i + 1] : `${RESULTS_DIR}${name}.json`;
    const m = machineInfo();
    this.log(`${name}: ${m.cores}× ${m.cpu}, node ${m.node}, ${this.date}, load ${this.loadAtStart.map((x) => x.toFixed(2)).join(' ')}`);
  }

  log(line: string): void {
    console.log(line);
    this.lines.push(line);
  }

  /** Writes the lines and `data` with the machine, the date and the load averages. */
  save(data: Record<string, unknown> = {}): string {
    mkdirSync(dirname(this.file), { recursive: true });
    const out = {
      generatedBy: `bench/src/${this.name}.ts ${process.argv.slice(2).join(' ')}`.trim(), date: this.date, machine: machineInfo(),
      loadAverage: { start: this.loadAtStart, end: loadavg() }, ...data, lines: this.lines,
    };
    writeFileAtomic(this.file, JSON.stringify(out, null, 1) + '\n');
    console.log(`wrote ${this.file}`);
    return this.file;
  }
}

/** The positional arguments (those not starting with --, nor following --out). */
export function positional(args: string[] = process.argv.slice(2)): string[] {
  return args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--out');
}
