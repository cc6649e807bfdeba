/**
 * Message ids are Redis Stream ids ("<ms>-<seq>"), also produced by the memory broker, so that
 * ordering, resume and de-duplication work the same whatever broker is behind the server.
 */
// Their shape on the wire is StreamIdSchema (frames.ts).

/** The id that sorts before every real id: "resume from the very beginning". */
export const ZERO_ID = '0-0';

/**
 * Compares two stream ids numerically. String comparison is wrong ("9-0" > "10-0"), and
 * Number() loses precision past 2^53, so both halves are compared as decimal strings.
 */
export function compareIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  const c = compareDecimal(a.slice(0, da), b.slice(0, db));
  return c !== 0 ? c : compareDecimal(a.slice(da + 1), b.slice(db + 1));
}

function compareDecimal(a: string, b: string): number {
  const x = stripZeros(a);
  const y = stripZeros(b);
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function stripZeros(s: string): string {
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++;
  return i === 0 ? s : s.slice(i);
}

export function maxId(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareIds(a, b) >= 0 ? a : b;
}
