import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from './helm.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
  stop_grace_period?: string;
  read_only?: boolean;
  cap_drop?: string[];
}
interface Compose {
  services: Record<string, ComposeService>;
}

const composeFile = join(repoRoot, 'docker-compose.yml');
// Anchors and merge keys resolved, as docker compose does.
const compose = parse(readFileSync(composeFile, 'utf8'), { merge: true }) as Compose;
const nginx = readFileSync(join(repoRoot, 'deploy/nginx.conf'), 'utf8');
const servers = Object.entries(compose.services).filter(([name]) => /^server-\d+$/.test(name));

const hasDockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;

describe('docker-compose.yml', () => {
  if (!hasDockerCompose) {
    console.warn(
      'docker-compose is not on PATH: skipping `docker-compose config -q` (CI installs it with apt)',
    );
  }
  it.skipIf(!hasDockerCompose)(
    '`docker-compose config -q` accepts it (skipped without docker-compose on PATH)',
    () => {
      const run = spawnSync('docker-compose', ['-f', composeFile, 'config', '-q'], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, TOKEN_SECRET: '' },
      });
      expect(run.status, run.stderr).toBe(0);
    },
  );

  it('Redis keeps an append-only file on a volume and has a health check', () => {
    const redis = compose.services.redis;
    expect(redis?.command?.join(' ')).toContain('--appendonly yes');
    // What an ack promises (the message survives a Redis crash), and a bound that fails sends
    // loudly (`unavailable`) instead of evicting history.
    expect(redis?.command?.join(' ')).toContain('--appendfsync always');
    expect(redis?.command?.join(' ')).toMatch(/--maxmemory \d+mb --maxmemory-policy noeviction/);
    expect(redis?.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
  });

  it('three servers with distinct NODE_IDs, one shared TOKEN_SECRET, on Redis, in production mode', () => {
    expect(servers).toHaveLength(3);
    const ids = servers.map(([, s]) => s.environment?.NODE_ID);
    expect(new Set(ids).size).toBe(3);
    const secrets = new Set(servers.map(([, s]) => s.environment?.TOKEN_SECRET));
    expect(secrets.size).toBe(1);
    const secret = [...secrets][0] ?? '';
    // Overridable from the environment, with a default that says it is for demos only.
    expect(secret).toMatch(/^\$\{TOKEN_SECRET:-dev-only-[^}]{23,}\}$/);
    for (const [name, s] of servers) {
      expect(s.environment?.REDIS_URL, name).toBe('redis://redis:6379');
      expect(s.environment?.NODE_ENV, name).toBe('production');
      expect(s.depends_on?.redis?.condition, name).toBe('service_healthy');
      expect(s.read_only, name).toBe(true);
      expect(s.cap_drop, name).toContain('ALL');
      const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1]);
      expect(grace * 1000, name).toBeGreaterThan(Number(s.environment?.SHUTDOWN_TIMEOUT_MS));
      expect(Number(s.environment?.SHUTDOWN_TIMEOUT_MS)).toBeGreaterThan(
        Number(s.environment?.DRAIN_WINDOW_MS),
      );
    }
  });

  it('a load balancer in front of every server, configured from deploy/nginx.conf', () => {
    const lb = compose.services.lb;
    expect(lb?.volumes).toContain('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro');
    for (const [name] of servers) {
      expect(lb?.depends_on?.[name]?.condition).toBe('service_healthy');
      expect(nginx).toMatch(new RegExp(`^\\s*server ${name}:8080 [^;]*;`, 'm'));
    }
  });
});

describe('deploy/nginx.conf', () => {
  it('proxies WebSocket upgrades', () => {
    expect(nginx).toMatch(/proxy_http_version 1\.1;/);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(nginx).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(nginx).toMatch(/proxy_read_timeout (\d+h|\d{4,}s);/);
  });

  it('retries a refused upgrade (503) and an unreachable server on the next one', () => {
    const next = /proxy_next_upstream ([^;]+);/.exec(nginx)?.[1]?.split(/\s+/) ?? [];
    expect(next).toEqual(expect.arrayContaining(['error', 'http_503']));
    expect(Number(/proxy_next_upstream_tries (\d+);/.exec(nginx)?.[1])).toBeGreaterThanOrEqual(2);
    expect(nginx).toMatch(/^\s*least_conn;/m);
  });
});
