import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  CloseCode,
  closeAction,
  compareIds,
  decodeClientFrame,
  decodeServerFrame,
  encodeCloseReason,
  handshakeProtocols,
  parseCloseReason,
  tokenFromProtocols,
} from '../src/index.js';

describe('decodeClientFrame', () => {
  it('accepts every valid client frame', () => {
    const frames = [
      { type: 'join', room: 'general' },
      { type: 'join', room: 'general', since: '1700000000000-3' },
      { type: 'leave', room: 'general' },
      { type: 'send', room: 'general', clientMsgId: 'abcdefgh-1234', text: 'hi' },
      { type: 'ping', t: 1 },
      { type: 'pong' },
    ];
    for (const f of frames) expect(decodeClientFrame(JSON.stringify(f))).toEqual({ ok: true, frame: f });
  });

  it.each([
    ['not json', '{', 'bad_json'],
    ['an array', '[]', 'bad_frame'],
    ['no type', '{"room":"a"}', 'bad_frame'],
    ['a numeric type', '{"type":1}', 'bad_frame'],
    ['an unknown type', '{"type":"explode"}', 'unknown_type'],
    ['an inherited type', '{"type":"toString"}', 'unknown_type'],
    ['an unknown field', '{"type":"leave","room":"a","x":1}', 'bad_frame'],
    ['a bad room', '{"type":"join","room":"Not A Room"}', 'bad_frame'],
    ['a bad since', '{"type":"join","room":"a","since":"yesterday"}', 'bad_frame'],
    ['empty text', '{"type":"send","room":"a","clientMsgId":"abcdefgh","text":""}', 'bad_frame'],
    ['a short clientMsgId', '{"type":"send","room":"a","clientMsgId":"abc","text":"x"}', 'bad_frame'],
  ])('refuses %s with %s', (_name, raw, code) => {
    const r = decodeClientFrame(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe(code);
      expect(r.message.length).toBeGreaterThan(5);
    }
  });

  it('names the offending field', () => {
    const r = decodeClientFrame('{"type":"join","room":"UPPER"}');
    expect(r.ok || r.message).toMatch(/room/);
  });
});

describe('decodeServerFrame', () => {
  it('validates server frames by type', () => {
    const msg = {
      type: 'msg',
      id: '1-0',
      room: 'general',
      from: { id: 'u1', name: 'Ada' },
      text: 'hello',
      ts: 1,
      clientMsgId: 'abcdefgh',
    };
    expect(decodeServerFrame(JSON.stringify(msg)).ok).toBe(true);
    expect(decodeServerFrame(JSON.stringify({ ...msg, id: 'nope' })).ok).toBe(false);
    expect(decodeServerFrame('{"type":"ping"}').ok).toBe(true);
  });
});

describe('compareIds', () => {
  it('orders ids numerically, not lexically', () => {
    expect(compareIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareIds('10-10', '10-10')).toBe(0);
    expect(compareIds('18446744073709551615-1', '18446744073709551614-9')).toBeGreaterThan(0);
    const ids = ['5-1', '10-0', '5-10', '0-0', '5-2'];
    expect([...ids].sort(compareIds)).toEqual(['0-0', '5-1', '5-2', '5-10', '10-0']);
  });
});

describe('close codes', () => {
  it('maps each code to the documented behaviour', () => {
    expect(closeAction(CloseCode.Normal)).toBe('stay-closed');
    expect(closeAction(CloseCode.PolicyViolation)).toBe('stay-closed');
    expect(closeAction(CloseCode.Forbidden)).toBe('stay-closed');
    expect(closeAction(CloseCode.Unauthorized)).toBe('refresh-token');
    expect(closeAction(CloseCode.ServiceRestart)).toBe('reconnect-soon');
    expect(closeAction(CloseCode.GoingAway)).toBe('reconnect-soon');
    expect(closeAction(CloseCode.TryAgainLater)).toBe('reconnect-slow');
    expect(closeAction(CloseCode.RateLimited)).toBe('reconnect-after-hint');
    expect(closeAction(CloseCode.Abnormal)).toBe('reconnect-backoff');
    expect(closeAction(CloseCode.InternalError)).toBe('reconnect-backoff');
    expect(closeAction(4999)).toBe('reconnect-backoff');
    expect(new Set(CLOSE_CODES.map((c) => c.code)).size).toBe(CLOSE_CODES.length);
  });

  it('round-trips a retry hint within 123 bytes', () => {
    const reason = encodeCloseReason('draining'.repeat(40), 1500);
    expect(new TextEncoder().encode(reason).length).toBeLessThanOrEqual(123);
    expect(parseCloseReason(reason).retryAfterMs).toBe(1500);
    expect(parseCloseReason('plain')).toEqual({ message: 'plain' });
  });
});

describe('handshake', () => {
  it('carries the token as a subprotocol', () => {
    expect(tokenFromProtocols(handshakeProtocols('a.b.c'))).toBe('a.b.c');
    expect(tokenFromProtocols(['chat.v1'])).toBeUndefined();
  });
});
