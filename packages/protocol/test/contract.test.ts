import { describe, expect, it } from 'vitest';
import {
  DRAIN_DEFAULTS,
  decodeServerFrame,
  drainWindowMs,
  encodeStoredBody,
  isTokenResponse,
  tokenRequestChecker,
  USER_ID_PATTERN,
  withStoredBody,
} from '../src/index.js';

describe('stored bodies', () => {
  it('splice into frames that decode as the message they came from', () => {
    const message = {
      room: 'general',
      from: { id: 'u_AAAAAAAAAAAAAAAAAAAAAA', name: 'Ann "quoted" \u00e9' },
      text: 'hello\n"world"',
      ts: 1_700_000_000_000,
      clientMsgId: 'cm-12345678',
    };
    const body = encodeStoredBody(message);
    const decoded = decodeServerFrame(withStoredBody('"type":"msg","id":"5-1","prev":"5-0"', body));
    expect(decoded).toEqual({ ok: true, frame: { type: 'msg', id: '5-1', prev: '5-0', ...message } });
  });

  it('have one byte form for equal messages, whatever the key order given', () => {
    const a = encodeStoredBody({
      room: 'r',
      from: { id: 'i', name: 'n' },
      text: 't',
      ts: 1,
      clientMsgId: 'cmcmcmcm',
    });
    const b = encodeStoredBody({
      clientMsgId: 'cmcmcmcm',
      ts: 1,
      text: 't',
      from: { name: 'n', id: 'i' },
      room: 'r',
    });
    expect(a).toBe(b);
  });
});

describe('token contract', () => {
  it('refuses unknown keys and a client-chosen id', () => {
    const checkTokenRequest = tokenRequestChecker();
    expect(checkTokenRequest.Check({ name: 'ann' })).toBe(true);
    expect(checkTokenRequest.Check({ name: 'ann', key: 'k'.repeat(22) })).toBe(true);
    expect(checkTokenRequest.Check({ name: 'ann', id: 'u_x' })).toBe(false);
    expect(checkTokenRequest.Check({ name: 'ann', key: 'short' })).toBe(false);
  });

  it('recognizes token responses', () => {
    expect(isTokenResponse({ token: 't', expiresAt: 1, user: { id: 'u', name: 'n' } })).toBe(true);
    expect(isTokenResponse({ token: 't', expiresAt: '1', user: { id: 'u', name: 'n' } })).toBe(false);
    expect(new RegExp(USER_ID_PATTERN).test('u_AAAAAAAAAAAAAAAAAAAAAA')).toBe(true);
    expect(new RegExp(USER_ID_PATTERN).test('alice')).toBe(false);
  });
});

describe('drain window', () => {
  it('is the sockets at the close rate, capped by the window', () => {
    expect(drainWindowMs(100)).toBe(200);
    expect(drainWindowMs(50_000)).toBe(DRAIN_DEFAULTS.windowMs);
    expect(drainWindowMs(10, 5000, 1)).toBe(5000);
  });
});
