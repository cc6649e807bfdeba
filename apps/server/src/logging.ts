import { TOKEN_PATH, WS_PATH } from '@chat/protocol';
import { type FastifyReply, type FastifyRequest, type FastifyServerOptions, LogController } from 'fastify';
import type { Config } from './config.js';

/** What pino writes to: one JSON object per call, as a string ending in a newline. */
interface LineSink {
  write(line: string): void;
}

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO ', color: '32' },
  40: { name: 'WARN ', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};

/** Fields every line has, or that say nothing to a person reading a terminal. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'reqId']);

/** Whether logs are for a person (a terminal) or for a collector (JSON lines). */
export function usePretty(format: Config['LOG_FORMAT'], out: Output = process.stdout): boolean {
  return format === 'pretty' || (format === 'auto' && out.isTTY === true);
}

/**
 * Turns one pino JSON line into `12:00:00.000 INFO  message  key=value ...`; a line that is
 * not JSON is passed through unchanged.
 */
export function formatLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = LEVELS[Number(entry.level)] ?? { name: String(entry.level), color: '0' };
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toISOString().slice(11, 23);
  const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const extras: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(entry)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    if (key === 'err' && typeof value === 'object' && value !== null) {
      const err = value as { message?: unknown; stack?: unknown };
      extras.push(`err=${JSON.stringify(String(err.message ?? ''))}`);
      if (typeof err.stack === 'string' && Number(entry.level) >= 50) stack = err.stack;
      continue;
    }
    const text = typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
    extras.push(`${key}=${text}`);
  }
  const tail = extras.length ? `  ${paint('90', extras.join(' '))}` : '';
  const body = `${paint('90', time)} ${paint(level.color, level.name)} ${String(entry.msg ?? '')}${tail}\n`;
  return stack ? `${body}${paint('90', stack)}\n` : body;
}

/** A pino destination that prints each line for a person. */
export function prettySink(out: Output = process.stdout): LineSink {
  const color = out.isTTY === true && !process.env.NO_COLOR;
  return { write: (line) => void out.write(formatLine(line, color)) };
}

/**
 * One line per HTTP request instead of Fastify's two: API calls, refusals and errors at info
 * or above, the web app's static files at debug (a page load is a dozen of them). Routes with
 * their own `logLevel` (the probes, at warn) stay quiet; WebSocket sessions are logged by
 * ws/session-log.ts.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const status = reply.statusCode;
    const path = req.url.split('?', 1)[0] ?? req.url;
    const line = { method: req.method, url: path, status, ms: Math.round(reply.elapsedTime) };
    const msg = `${req.method} ${path} ${status}`;
    if (error) reply.log.error({ ...line, err: error }, msg);
    else if (status >= 500) reply.log.warn(line, msg);
    else if (status >= 400 || req.method !== 'GET' || isApi(path)) reply.log.info(line, msg);
    else reply.log.debug(line, msg);
  }
}

function isApi(path: string): boolean {
  return path.startsWith('/api/') || path === TOKEN_PATH || path === WS_PATH;
}

/**
 * Fastify's logger: JSON lines for collectors, or one readable line each on a terminal
 * (LOG_FORMAT=auto picks by whether stdout is a TTY), with RequestLog's request lines.
 */
export function loggerOptions(config: Config): Pick<FastifyServerOptions, 'logger' | 'logController'> {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'req.headers.cookie'],
      ...(usePretty(config.LOG_FORMAT) ? { stream: prettySink() } : {}),
    },
    logController: new RequestLog(),
  };
}
