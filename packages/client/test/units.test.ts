import type { ChatMessage } from '@chat/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from '../src/emitter.js';
import { browserEnvironment } from '../src/environment.js';
import { RoomStore } from '../src/room-store.js';

function msg(id: string, text = id): ChatMessage {
  return { id, room: 'r', from: { id: 'u', name: 'U' }, text, ts: 0, clientMsgId: `cmid-${id}-xxxx` };
}

describe('RoomStore', () => {
  it('drops ids it has seen, even after they left a small duplicate window', () => {
    const store = new RoomStore('r', { history: 10, dedupeWindow: 2 });
    for (const id of ['1-0', '2-0', '3-0']) expect(store.accept(msg(id))).toBe(true);
    // 1-0 was evicted from the window but is below its floor: still a duplicate.
    expect(store.accept(msg('1-0'))).toBe(false);
    expect(store.accept(msg('3-0'))).toBe(false);
    expect(store.accept(msg('4-0'))).toBe(true);
    expect(store.messages.map((m) => m.id)).toEqual(['1-0', '2-0', '3-0', '4-0']);
  });

  it('orders numerically, not as strings', () => {
    const store = new RoomStore('r', { history: 10, dedupeWindow: 10 });
    store.accept(msg('10-0'));
    store.accept(msg('9-5'));
    store.accept(msg('10-1'));
    expect(store.messages.map((m) => m.id)).toEqual(['9-5', '10-0', '10-1']);
    store.observe('10-1');
    store.observe('9-5');
    expect(store.lastId).toBe('10-1');
  });

  it('never mutates a list it handed out', () => {
    const store = new RoomStore('r', { history: 2, dedupeWindow: 10 });
    store.accept(msg('1-0'));
    const before = store.messages;
    store.accept(msg('2-0'));
    store.accept(msg('3-0'));
    expect(before.map((m) => m.id)).toEqual(['1-0']);
    expect(store.messages.map((m) => m.id)).toEqual(['2-0', '3-0']);
  });

  it('counts users once however many connections they have', () => {
    const store = new RoomStore('r', { history: 0, dedupeWindow: 10 });
    store.setPresence([
      { key: 'a1', id: 'a', name: 'Zed' },
      { key: 'a2', id: 'a', name: 'Zed' },
      { key: 'b1', id: 'b', name: 'Amy' },
    ]);
    expect(store.users()).toEqual([
      { id: 'b', name: 'Amy' },
      { id: 'a', name: 'Zed' },
    ]);
    store.applyPresence([], ['a1']);
    expect(store.users()).toHaveLength(2);
    store.applyPresence([{ key: 'c1', id: 'c', name: 'Bo' }], ['a2']);
    expect(store.users().map((u) => u.name)).toEqual(['Amy', 'Bo']);
  });
});

describe('Emitter', () => {
  it('keeps calling listeners when one throws, and reports the error', async () => {
    const reported: unknown[] = [];
    vi.stubGlobal('reportError', (e: unknown) => reported.push(e));
    const emitter = new Emitter<{ tick: number }>();
    const seen: number[] = [];
    emitter.on('tick', () => {
      throw new Error('boom');
    });
    const off = emitter.on('tick', (n) => seen.push(n));
    emitter.emit('tick', 1);
    off();
    emitter.emit('tick', 2);
    expect(seen).toEqual([1]);
    expect(reported).toHaveLength(2);
    expect(emitter.listenerCount('tick')).toBe(1);
  });
});

describe('browserEnvironment', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('is undefined outside a browser', () => {
    expect(browserEnvironment()).toBeUndefined();
  });

  it('maps online, offline and visibilitychange (visible only) and unsubscribes', () => {
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { visibilityState: 'hidden' });
    const nav = { onLine: false };
    vi.stubGlobal('window', win);
    vi.stubGlobal('document', doc);
    vi.stubGlobal('navigator', nav);
    const env = browserEnvironment();
    expect(env?.isOnline()).toBe(false);
    const calls: string[] = [];
    const off = env?.subscribe({
      online: () => calls.push('online'),
      offline: () => calls.push('offline'),
      visible: () => calls.push('visible'),
    });
    win.dispatchEvent(new Event('offline'));
    win.dispatchEvent(new Event('online'));
    doc.dispatchEvent(new Event('visibilitychange'));
    doc.visibilityState = 'visible';
    doc.dispatchEvent(new Event('visibilitychange'));
    off?.();
    win.dispatchEvent(new Event('online'));
    expect(calls).toEqual(['offline', 'online', 'visible']);
  });
});
