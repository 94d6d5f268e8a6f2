/** A malformed or unsupported model file. Names the field, the byte offset and what was expected. */
export class FormatError extends Error {
  readonly field: string;
  readonly offset: number;
  readonly expected: string;
  /** `plain`, when given, replaces "expected …, got …" in the message with a sentence of its own. */
  constructor(field: string, offset: number, expected: string, got?: unknown, plain?: string) {
    const gotText = got === undefined ? '' : `, got ${describe(got)}`;
    super(`${field} (byte ${offset}): ${plain ?? `expected ${expected}${gotText}`}`);
    this.name = 'FormatError';
    this.field = field;
    this.offset = offset;
    this.expected = expected;
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `array of length ${v.length}`;
  return typeof v;
}
