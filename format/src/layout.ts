// Byte layout constants of format v1 (SPEC.md §2–3), shared by the reader and the writer.
export const MAGIC = 'BITSWTCH';
export const MAJOR = 1;
/** Newest minor version this reader and writer know (1.1: SENS std errors and probe counts; 1.2: INPT; 1.3: SubNet BatchNorm statistics). */
export const MINOR = 3;
/** Minor version of a file with INPT and no SubNet BatchNorm statistics. */
export const MINOR_INPUT = 2;
/** Minor version of a file that uses none of the 1.1 or 1.2 additions: the writer writes the lowest that fits. */
export const MINOR_BASE = 0;
/** Minor version of a file with SENS std errors or probe counts and no INPT section. */
export const MINOR_SENS_ERRORS = 1;
export const HEADER_BYTES = 32;
export const SECTION_ENTRY_BYTES = 16;
export const MAX_SECTIONS = 64;
export const SECTION_ALIGN = 16;

export const TAG_GRAPH = 'GRPH';
export const TAG_TENSORS = 'TENS';
export const TAG_SENSITIVITY = 'SENS';
export const TAG_SUBNETS = 'SUBN';
export const TAG_METADATA = 'META';
export const TAG_INPUT = 'INPT';
export const KNOWN_TAGS = [TAG_GRAPH, TAG_TENSORS, TAG_INPUT, TAG_SENSITIVITY, TAG_SUBNETS, TAG_METADATA] as const;

/** Bounds that keep a hostile file from asking for unbounded work or memory. */
export const LIMITS = {
  layers: 4096,
  bits: 7,
  nameLength: 128,
  dimension: 65536,
  inputElements: 1 << 24,
  jsonBytes: 16 << 20,
};

export interface TensorRef {
  dtype: string;
  shape: number[];
  offset: number;
  length: number;
}

export const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;
