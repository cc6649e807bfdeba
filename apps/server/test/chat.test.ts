import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, TestClient } from './harness.js';

describe('chat over the memory broker', () => {
  let srv: RunningApp;
  beforeAll(async () => {
    srv = await startApp();
  });
  afterAll(async () => {
    await srv.close();
  });

  it('welcomes, joins, acks and delivers to every member', async () => {
    const a = await TestClient.connect(srv.wsUrl, srv.token('ada'));
    const b = await TestClient.connect(srv.wsUrl, srv.token('bob'));
    const welcome = await a.next('welcome');
    expect(welcome.user.name).toBe('ada');
    expect((await a.join('general')).type).toBe('joined');
    await b.join('general');
    const ack = await a.say('general', 'hello');
    expect(ack.duplicate).toBe(false);
    const got = await b.next('msg', (m) => m.id === ack.id);
    expect(got).toMatchObject({ text: 'hello', from: { name: 'ada' }, room: 'general' });
    await a.next('msg', (m) => m.id === ack.id);
    await Promise.all([a.close(), b.close()]);
  });
});
