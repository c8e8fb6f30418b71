// COPY's binary format as the export reads it (src/db/pg-copy.ts), on bytes made here; the same
// reader against a real PostgreSQL is in test/postgres/copy-rows.test.ts.
import { describe, expect, it } from 'vitest';
import { BinaryCopyReader, postgresLiteral } from '../../src/db/pg-copy.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

function int16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeInt16BE(value);
  return bytes;
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

/** A binary COPY of `rows`: each value its bytes, or null for NULL. */
function binaryCopy(
  rows: ReadonlyArray<ReadonlyArray<Buffer | null>>,
  { flags = 0, extension = Buffer.alloc(0) } = {},
): Buffer {
  const parts = [SIGNATURE, int32(flags), int32(extension.length), extension];
  for (const row of rows) {
    parts.push(int16(row.length));
    for (const value of row) {
      if (value === null) parts.push(int32(-1));
      else parts.push(int32(value.length), value);
    }
  }
  parts.push(int16(-1));
  return Buffer.concat(parts);
}

/** A whole binary COPY read in one push. */
function parseBinaryCopy(data: Buffer) {
  const reader = new BinaryCopyReader();
  reader.push(data);
  return reader.end();
}

describe('BinaryCopyReader', () => {
  it('gives each row its values as bytes, NULL as null, empty text as no bytes', () => {
    const rows = [
      [Buffer.from('call_1'), Buffer.from('{"a":"é \\" ☎"}'), null],
      [Buffer.from('call_2'), Buffer.alloc(0), Buffer.from([0x40, 0x28, 0, 0, 0, 0, 0, 0])],
    ];
    const parsed = parseBinaryCopy(binaryCopy(rows));
    expect(parsed).toEqual(rows);
    expect(parsed[1]![2]!.readDoubleBE(0)).toBe(12);
  });

  it('reads no rows from a COPY that had none, and skips a header extension', () => {
    expect(parseBinaryCopy(binaryCopy([]))).toEqual([]);
    const extended = binaryCopy([[Buffer.from('x')]], { extension: Buffer.from('ignored') });
    expect(parseBinaryCopy(extended)).toEqual([[Buffer.from('x')]]);
  });

  it('refuses bytes that are not a whole binary COPY', () => {
    const whole = binaryCopy([[Buffer.from('call_1'), Buffer.from('line')]]);
    expect(() => parseBinaryCopy(Buffer.from('call_1\tline\n'))).toThrow(/no binary COPY header/);
    // Cut inside a length, inside a value, before the end marker.
    for (const cut of [24, whole.length - 4, whole.length - 2]) {
      expect(() => parseBinaryCopy(whole.subarray(0, cut))).toThrow(/ends before its end marker/);
    }
    for (const cut of [5, 12]) {
      expect(() => parseBinaryCopy(whole.subarray(0, cut))).toThrow(/no binary COPY header/);
    }
    expect(() => parseBinaryCopy(Buffer.concat([whole, Buffer.from('x')]))).toThrow(
      /bytes after the end/,
    );
    // A length or a column count below -1 (NULL's and the end marker's) is no length at all.
    const header = binaryCopy([]).subarray(0, 19);
    const negativeLength = Buffer.concat([header, int16(1), int32(-2), int16(-1)]);
    expect(() => parseBinaryCopy(negativeLength)).toThrow(/a value of -2 bytes/);
    const negativeColumns = Buffer.concat([header, int16(-3), int16(-1)]);
    expect(() => parseBinaryCopy(negativeColumns)).toThrow(/a row of -3 columns/);
    // Rows that carry OIDs first (WITH OIDS tables) would be misread.
    expect(() => parseBinaryCopy(binaryCopy([], { flags: 1 << 16 }))).toThrow(/header flags/);
  });

  it('reads the same rows however the bytes are split, keeping none of the pushed chunks', async () => {
    const rows = [
      [Buffer.from('call_1'), Buffer.from('é'.repeat(40_000)), null],
      [Buffer.from('call_2'), Buffer.from('{"a":1}'), Buffer.alloc(0)],
      [Buffer.from('call_3'), Buffer.from('x'.repeat(300)), Buffer.from('y')],
    ];
    const whole = binaryCopy(rows, { extension: Buffer.from('ext') });
    const read = (chunks: Buffer[]) => {
      const reader = new BinaryCopyReader();
      for (const chunk of chunks) {
        // pg reuses its read buffer: a chunk's bytes change once it has been read.
        const owned = Buffer.from(chunk);
        reader.push(owned);
        owned.fill(0);
      }
      // As hex: comparing long Buffers element by element is slow.
      return reader.end().map((row) => row.map((value) => value?.toString('hex') ?? null));
    };
    const expected = rows.map((row) => row.map((value) => value?.toString('hex') ?? null));
    for (let cut = 0; cut <= whole.length; cut += cut < 200 || cut > whole.length - 200 ? 1 : 997) {
      expect(read([whole.subarray(0, cut), whole.subarray(cut)])).toEqual(expected);
    }
    const bytes = Array.from({ length: whole.length }, (_, i) => whole.subarray(i, i + 1));
    expect(read(bytes)).toEqual(expected);
  });
});

describe('postgresLiteral', () => {
  it('writes an escape-string literal, backslashes and quotes doubled', () => {
    expect(postgresLiteral('call_1')).toBe("E'call_1'");
    expect(postgresLiteral(`it's \\ "x"`)).toBe(`E'it''s \\\\ "x"'`);
    expect(postgresLiteral('')).toBe("E''");
  });

  it('refuses a NUL character, which no statement can carry', () => {
    expect(() => postgresLiteral('a\0b')).toThrow(/NUL/);
  });
});
