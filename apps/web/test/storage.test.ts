import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadProfile, loadRooms, saveProfile, saveRooms } from '../src/lib/storage';

/** A Storage in memory, standing in for the browser's localStorage. */
class MemoryStorage implements Storage {
  private readonly map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  clear() {
    this.map.clear();
  }
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  key(i: number) {
    return [...this.map.keys()][i] ?? null;
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
  setItem(key: string, value: string) {
    this.map.set(key, value);
  }
}

let storage: MemoryStorage;
beforeEach(() => {
  storage = new MemoryStorage();
  Object.defineProperty(globalThis, 'localStorage', { value: storage, configurable: true });
});
afterEach(() => {
  Reflect.deleteProperty(globalThis, 'localStorage');
});

describe('the remembered profile (a new tab signs in as the same name)', () => {
  it('round-trips and is forgotten on sign-out', () => {
    expect(loadProfile()).toBeUndefined();
    saveProfile({ name: 'Ada', userId: 'u_abcdefgh' });
    expect(loadProfile()).toEqual({ name: 'Ada', userId: 'u_abcdefgh' });
    saveProfile(undefined);
    expect(loadProfile()).toBeUndefined();
  });

  it('ignores what it did not write', () => {
    storage.setItem('chat.profile', '{not json');
    expect(loadProfile()).toBeUndefined();
    storage.setItem('chat.profile', JSON.stringify({ name: '', userId: 'u_x' }));
    expect(loadProfile()).toBeUndefined();
    storage.setItem('chat.profile', JSON.stringify({ name: 'Ada', userId: 42 }));
    expect(loadProfile()).toBeUndefined();
  });

  it('works without storage (private mode): nothing is remembered, nothing throws', () => {
    Object.defineProperty(globalThis, 'localStorage', {
      get() {
        throw new Error('SecurityError');
      },
      configurable: true,
    });
    expect(() => saveProfile({ name: 'Ada', userId: 'u_abcdefgh' })).not.toThrow();
    expect(loadProfile()).toBeUndefined();
  });
});

describe('the remembered rooms (joined rooms survive a reload)', () => {
  it('per user, in order, with the room on screen', () => {
    saveRooms('u_one', { rooms: ['general', 'ops'], active: 'ops' });
    saveRooms('u_two', { rooms: ['random'] });
    expect(loadRooms('u_one')).toEqual({ rooms: ['general', 'ops'], active: 'ops' });
    expect(loadRooms('u_two')).toEqual({ rooms: ['random'] });
    expect(loadRooms('u_three')).toBeUndefined();
    saveRooms('u_one', undefined);
    expect(loadRooms('u_one')).toBeUndefined();
  });

  it('an empty list stays empty (the user left every room), unlike never saved', () => {
    saveRooms('u_one', { rooms: [] });
    expect(loadRooms('u_one')).toEqual({ rooms: [] });
  });

  it('drops invalid names, duplicates and an active room that is not in the list', () => {
    storage.setItem(
      'chat.rooms.u_one',
      JSON.stringify({ rooms: ['general', 'General', '../x', 7, 'general', 'ops'], active: 'nope' }),
    );
    expect(loadRooms('u_one')).toEqual({ rooms: ['general', 'ops'] });
  });
});
