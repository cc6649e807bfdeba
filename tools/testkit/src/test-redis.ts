import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from './redis.js';

/**
 * A private redis-server for one test file (the cluster harness's: free port, own dir and
 * pidfile, append-only), so tests can stop, pause and restart it without touching the
 * machine's shared Redis.
 */
export class TestRedis {
  private readonly dir = mkdtempSync(join(tmpdir(), 'chat-redis-'));
  private readonly server = new RedisServer({ dir: this.dir });

  get url(): string {
    return this.server.url;
  }

  async start(): Promise<this> {
    await this.server.start();
    return this;
  }

  /** Graceful stop (SIGTERM): the append-only file keeps every acknowledged write. */
  stop(): Promise<void> {
    return this.server.stop();
  }

  pause(): void {
    this.server.pause();
  }

  resume(): void {
    this.server.resume();
  }

  async destroy(): Promise<void> {
    await this.server.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1 });
  }
}
