import { createConnection } from 'node:net';

export type RespValue = string | number | null | RespValue[] | Error;

/**
 * One command to a Redis or Sentinel on 127.0.0.1 and its reply, over a fresh connection: the
 * harness asks a few questions (who is primary, is replication up), so no client library.
 */
export function respCommand(
  port: number,
  args: string[],
  opts: { password?: string; timeoutMs?: number } = {},
): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const expected = opts.password ? 2 : 1;
    const fail = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(opts.timeoutMs ?? 2000, () => fail(new Error(`port ${port}: no reply to ${args[0]}`)));
    sock.on('error', fail);
    sock.on('connect', () => {
      if (opts.password) sock.write(encode(['AUTH', opts.password]));
      sock.write(encode(args));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const parsed = parse(buf, 0);
        if (!parsed) return;
        replies.push(parsed.value);
        buf = buf.subarray(parsed.end);
        if (replies.length === expected) {
          sock.destroy();
          const auth = replies[0];
          if (expected === 2 && auth instanceof Error) reject(auth);
          else resolve(replies[expected - 1] ?? null);
          return;
        }
      }
    });
  });
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

function parse(buf: Buffer, at: number): { value: RespValue; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  switch (String.fromCharCode(buf[at] ?? 0)) {
    case '+':
      return { value: line, end: eol + 2 };
    case '-':
      return { value: new Error(line), end: eol + 2 };
    case ':':
      return { value: Number(line), end: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: RespValue[] = [];
      let end = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, end);
        if (!item) return undefined;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP reply: ${line}`);
  }
}

/** A flat [k, v, k, v] reply (SENTINEL MASTER) as a map. */
export function respPairs(value: RespValue): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(value)) return map;
  for (let i = 0; i + 1 < value.length; i += 2) map.set(String(value[i]), String(value[i + 1]));
  return map;
}
