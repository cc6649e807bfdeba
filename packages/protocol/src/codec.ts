import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import {
  AckFrame,
  CLIENT_FRAME_SCHEMAS,
  type ClientFrame,
  type ClientFrameType,
  ErrorFrame,
  JoinedFrame,
  LeftFrame,
  MsgFrame,
  PresenceFrame,
  RefreshedFrame,
  ResyncFrame,
  type ServerFrame,
  type ServerFrameType,
  ServerPingFrame,
  ServerPongFrame,
  StatusFrame,
  WelcomeFrame,
} from './frames.js';

export type DecodeFailure = { ok: false; code: 'bad_json' | 'bad_frame' | 'unknown_type'; message: string };
export type Decoded<T> = { ok: true; frame: T } | DecodeFailure;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(raw: string): Decoded<Record<string, unknown> & { type: string }> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'bad_json', message: 'frame is not valid JSON' };
  }
  if (!isRecord(value) || typeof value.type !== 'string') {
    return { ok: false, code: 'bad_frame', message: 'frame must be a JSON object with a string "type"' };
  }
  return { ok: true, frame: value as Record<string, unknown> & { type: string } };
}

// Compiled lazily: TypeCompiler generates code with `new Function`, which the server can use
// freely but a browser page under a strict CSP cannot, so the browser path uses Value.Check.
let clientCheckers: Map<string, TypeCheck<TSchema>> | undefined;
function clientChecker(type: ClientFrameType): TypeCheck<TSchema> {
  clientCheckers ??= new Map();
  let check = clientCheckers.get(type);
  if (!check) {
    check = TypeCompiler.Compile(CLIENT_FRAME_SCHEMAS[type]);
    clientCheckers.set(type, check);
  }
  return check;
}

function hasOwn<K extends string>(obj: Record<K, unknown>, key: string): key is K {
  return Object.hasOwn(obj, key);
}

/** Server side: parse and validate one text frame from a client. Never throws. */
export function decodeClientFrame(raw: string): Decoded<ClientFrame> {
  const parsed = parseObject(raw);
  if (!parsed.ok) return parsed;
  const { type } = parsed.frame;
  if (!hasOwn(CLIENT_FRAME_SCHEMAS, type)) {
    return { ok: false, code: 'unknown_type', message: `unknown frame type "${truncate(type)}"` };
  }
  const check = clientChecker(type);
  if (!check.Check(parsed.frame)) {
    const first = check.Errors(parsed.frame).First();
    const where = first?.path ? first.path.slice(1) || 'frame' : 'frame';
    return { ok: false, code: 'bad_frame', message: `${type}: ${where} ${first?.message ?? 'is invalid'}` };
  }
  return { ok: true, frame: parsed.frame as ClientFrame };
}

const SERVER_FRAME_SCHEMAS: Record<ServerFrameType, TSchema> = {
  welcome: WelcomeFrame,
  joined: JoinedFrame,
  resync: ResyncFrame,
  left: LeftFrame,
  msg: MsgFrame,
  ack: AckFrame,
  presence: PresenceFrame,
  ping: ServerPingFrame,
  pong: ServerPongFrame,
  refreshed: RefreshedFrame,
  error: ErrorFrame,
  status: StatusFrame,
};

/** Client side: parse and validate one frame from the server (no code generation). */
export function decodeServerFrame(raw: string): Decoded<ServerFrame> {
  const parsed = parseObject(raw);
  if (!parsed.ok) return parsed;
  const { type } = parsed.frame;
  if (!hasOwn(SERVER_FRAME_SCHEMAS, type)) {
    return { ok: false, code: 'unknown_type', message: `unknown frame type "${truncate(type)}"` };
  }
  if (!Value.Check(SERVER_FRAME_SCHEMAS[type], parsed.frame)) {
    return { ok: false, code: 'bad_frame', message: `${type}: frame does not match its schema` };
  }
  return { ok: true, frame: parsed.frame as ServerFrame };
}

export function encodeFrame(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}

function truncate(s: string): string {
  return s.length > 32 ? `${s.slice(0, 32)}…` : s;
}
