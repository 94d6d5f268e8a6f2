// Minimal declarations for cli-progress 3 (the package ships none): what the commands use.
declare module 'cli-progress' {
  interface Options { format?: string; etaBuffer?: number; hideCursor?: boolean; clearOnComplete?: boolean }
  export class SingleBar {
    constructor(opts: Options, preset?: unknown);
    start(total: number, start: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    stop(): void;
  }
  export const Presets: { shades_classic: unknown };
  const _default: { SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default _default;
}
