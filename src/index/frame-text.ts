import { NO, RAW, VAR_END, YES, type Templates } from './templates.js';

/** The messages of one decoded frame, by row in the frame. */
export interface FrameText {
  message(j: number): string;
  bytes(j: number): Uint8Array;
  /** Whether row j's message contains `needle`, looked for in its bytes (the page first asks the block's templates). */
  contains(j: number, needle: Uint8Array): typeof NO | typeof YES;
  /** Row j's template id (RAW for a v3 frame: every message whole). */
  template(j: number): number;
  /** Whether any row may contain `needle` (a cheap look over the whole frame, or true). */
  anyMayContain(needle: Uint8Array): boolean;
  /** Bytes it holds of its own, beyond views of the frame (the page cache's accounting). */
  readonly byteLength: number;
}

/** Version 3: the messages' bytes end to end. */
export class PlainText implements FrameText {
  constructor(
    private readonly msg: Buffer,
    private readonly offsets: Uint32Array,
  ) {}

  get byteLength(): number {
    return this.offsets.byteLength;
  }

  template(): number {
    return RAW;
  }

  message(j: number): string {
    return this.msg.toString('utf8', this.offsets[j]!, this.offsets[j + 1]!);
  }

  bytes(j: number): Uint8Array {
    return this.msg.subarray(this.offsets[j]!, this.offsets[j + 1]!);
  }

  contains(j: number, needle: Uint8Array): typeof NO | typeof YES {
    return this.msg.subarray(this.offsets[j]!, this.offsets[j + 1]!).indexOf(needle) >= 0 ? YES : NO;
  }

  anyMayContain(needle: Uint8Array): boolean {
    return this.msg.indexOf(needle) >= 0;
  }
}

/**
 * Version 4: a template id per row (templates.ts), the variables of every
 * templated row end to end, and the rows kept whole (RAW) end to end.
 */
export class TemplatedText implements FrameText {
  /** Where row j's variables start (n + 1 entries). */
  private readonly varStart: Uint32Array;

  private constructor(
    /** The block's templates, asked for each time (from the page cache): a frame does not keep its own copy alive. */
    private readonly templatesOf: () => Templates,
    private readonly ids: Uint32Array,
    private readonly vars: Buffer,
    private readonly raws: Buffer,
    private readonly rawOffsets: Uint32Array,
    varStart: Uint32Array,
  ) {
    this.varStart = varStart;
  }

  /** Null if the ids or variables do not fit the templates (the caller reports corruption). */
  static of(templatesOf: () => Templates, ids: Uint32Array, vars: Buffer, raws: Buffer, rawLengths: Uint32Array): TemplatedText | null {
    const templates = templatesOf();
    const n = ids.length;
    const varStart = new Uint32Array(n + 1);
    const rawOffsets = new Uint32Array(n + 1);
    let at = 0;
    const end = vars.length;
    for (let j = 0; j < n; j++) {
      const k = templates.variables(ids[j]!);
      if (k === undefined || (ids[j] !== RAW && rawLengths[j] !== 0)) return null;
      varStart[j] = at;
      // A byte loop, not indexOf per variable: most are a few digits long, and the call costs more.
      for (let left = k; left > 0;) {
        if (at >= end) return null;
        if (vars[at++] === VAR_END) left--;
      }
      rawOffsets[j + 1] = rawOffsets[j]! + rawLengths[j]!;
    }
    varStart[n] = at;
    if (at !== vars.length || rawOffsets[n] !== raws.length) return null;
    return new TemplatedText(templatesOf, ids, vars, raws, rawOffsets, varStart);
  }

  get byteLength(): number {
    return this.varStart.byteLength + this.rawOffsets.byteLength;
  }

  template(j: number): number {
    return this.ids[j]!;
  }

  message(j: number): string {
    const id = this.ids[j]!;
    if (id === RAW) return this.raws.toString('utf8', this.rawOffsets[j]!, this.rawOffsets[j + 1]!);
    return this.templatesOf().render(id, this.vars, this.varStart[j]!);
  }

  bytes(j: number): Uint8Array {
    const id = this.ids[j]!;
    if (id === RAW) return this.raws.subarray(this.rawOffsets[j]!, this.rawOffsets[j + 1]!);
    return this.templatesOf().renderBytes(id, this.vars, this.varStart[j]!, this.varStart[j + 1]!);
  }

  contains(j: number, needle: Uint8Array): typeof NO | typeof YES {
    const b = this.bytes(j);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(needle) >= 0 ? YES : NO;
  }

  anyMayContain(): boolean {
    return true; // the per-row verdicts cost no more than a look over the frame would
  }
}
