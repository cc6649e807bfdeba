import type { IConfigMap, ISecret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { configOf, names, podSpecs, rendered, renderedText, server } from './fixtures.js';
import { defaultTokenSecret, type Manifest, ofKind, one, render, template } from './helm.js';

const allContainers = (docs: Manifest[]) =>
  podSpecs(docs).flatMap(([where, spec]) => spec.containers.map((c) => [where, c] as const));

describe('secrets: TOKEN_SECRET only through secretKeyRef, never a literal', () => {
  it.each(names)('%s', (name) => {
    const docs = rendered(name);
    let refs = 0;
    for (const [where, c] of allContainers(docs)) {
      for (const e of c.env ?? []) {
        if (e.name === 'REDIS_URL') expect(e.valueFrom?.secretKeyRef, `${where} ${e.name}`).toBeDefined();
        if (e.name === 'TOKEN_SECRET') {
          expect(e.value, where).toBeUndefined();
          expect(e.valueFrom?.secretKeyRef?.name, where).toBeTruthy();
          refs++;
        }
      }
    }
    expect(refs).toBeGreaterThanOrEqual(1);
    for (const cm of ofKind<IConfigMap>(docs, 'ConfigMap')) {
      expect(Object.keys(cm.data ?? {})).not.toContain('TOKEN_SECRET');
    }
    // The only place a secret value may appear is a Secret's data, and it appears nowhere else.
    for (const s of ofKind<ISecret>(docs, 'Secret')) {
      for (const v of Object.values(s.data ?? {})) {
        const plain = Buffer.from(v, 'base64').toString('utf8');
        const elsewhere = docs.filter((d) => d !== (s as unknown)).map((d) => JSON.stringify(d));
        for (const text of elsewhere) {
          expect(text.includes(plain)).toBe(false);
          expect(text.includes(v)).toBe(false);
        }
      }
    }
  });

  it('existingSecret: no chart Secret, the pods and the test pod read the named Secret and key', () => {
    const docs = rendered('keda');
    expect(ofKind(docs, 'Secret')).toHaveLength(0);
    for (const [where, c] of allContainers(docs)) {
      if (c.name === 'deletion-cost') continue;
      const ref = c.env?.find((e) => e.name === 'TOKEN_SECRET')?.valueFrom?.secretKeyRef;
      expect(ref, where).toEqual({ name: 'chat-auth', key: 'token-secret' });
    }
    const redis = server(docs).env?.find((e) => e.name === 'REDIS_URL')?.valueFrom?.secretKeyRef;
    expect(redis).toEqual({ name: 'chat-redis', key: 'url' });
  });

  it('a Redis URL with a password goes to the Secret, not the ConfigMap', () => {
    const url = 'rediss://default:s3cret-pass@redis.example.internal:6380';
    const docs = render({ set: { 'redis.url': url, 'redis.embedded.enabled': false } });
    const secret = one<ISecret>(docs, 'Secret');
    expect(Buffer.from(secret.data?.REDIS_URL ?? '', 'base64').toString()).toBe(url);
    expect(configOf(docs).REDIS_URL).toBeUndefined();
    expect(JSON.stringify(docs.filter((d) => d.kind !== 'Secret'))).not.toContain('s3cret-pass');
    expect(ofKind(docs, 'StatefulSet')).toHaveLength(0);
  });
});

describe('GitOps: the same values render the same manifests (Argo CD and Flux render with helm template)', () => {
  it.each(names)('%s: a second render is byte-identical (no lookup, no random value)', (name) => {
    const again = template({ scenario: name });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(renderedText(name));
  });

  it('the chart Secret holds exactly auth.tokenSecret, and checksum/secret changes only with it', () => {
    const token = (docs: Manifest[]) =>
      Buffer.from(one<ISecret>(docs, 'Secret').data?.TOKEN_SECRET ?? '', 'base64').toString('utf8');
    expect(token(rendered('default'))).toBe(defaultTokenSecret);
    const checksum = (docs: Manifest[]) =>
      ofKind<{ spec: { template: { metadata: { annotations: Record<string, string> } } } } & Manifest>(
        docs,
        'Deployment',
      )[0]?.spec.template.metadata.annotations['checksum/secret'];
    const other = render({ set: { 'auth.tokenSecret': `${defaultTokenSecret}-rotated` } });
    expect(checksum(rendered('default'))).toMatch(/^[a-f0-9]{64}$/);
    expect(checksum(render())).toBe(checksum(rendered('default')));
    expect(checksum(other)).not.toBe(checksum(rendered('default')));
  });

  it('without a token secret the render fails and says what to set (the chart never generates one)', () => {
    const run = template({ bare: true });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/no token secret: set auth\.existingSecret .* or auth\.tokenSecret/);
  });

  it('both existingSecret and tokenSecret are refused, and a short tokenSecret is refused', () => {
    const both = template({ set: { 'auth.existingSecret': 'chat-auth' } });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('not both');
    const short = template({ bare: true, set: { 'auth.tokenSecret': 'too-short' } });
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/tokenSecret/);
  });

  it('no template uses lookup or a random function', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { chartDir } = await import('./helm.js');
    const dir = join(chartDir, 'templates');
    const files = readdirSync(dir, { recursive: true }).map(String);
    for (const f of files.filter((x) => /\.(yaml|tpl|txt)$/.test(x))) {
      // Template comments may name what the chart avoids; only the code counts.
      const text = readFileSync(join(dir, f), 'utf8').replace(/\{\{-? *\/\*[\s\S]*?\*\/ *-?\}\}/g, '');
      expect(text, f).not.toMatch(
        /\blookup\b|\brand(AlphaNum|Alpha|Numeric|Ascii|Bytes)\b|\buuidv4\b|\bnow\b/,
      );
    }
  });
});

describe('DEV_TOKENS (demo auth) is off unless asked for', () => {
  it('off by default and in every production-shaped ci file; on only in ci/demo-values.yaml', () => {
    for (const name of names) {
      expect(configOf(rendered(name)).DEV_TOKENS, name).toBe(name === 'demo' ? 'true' : 'false');
    }
    expect(configOf(rendered('default')).NODE_ENV).toBe('production');
  });
});

describe('client addresses and identity providers', () => {
  it('TRUST_PROXY: one hop behind the chart\'s gateway, ingress or mesh; nobody without one; never "true"', () => {
    expect(configOf(rendered('default')).TRUST_PROXY).toBe('false');
    for (const name of ['istio-hpa', 'demo', 'ambient-gateway-api', 'nginx']) {
      expect(configOf(rendered(name)).TRUST_PROXY, name).toBe('1');
    }
    expect(configOf(render({ set: { 'server.trustProxy': '10.0.0.0/8' } })).TRUST_PROXY).toBe('10.0.0.0/8');
    expect(template({ set: { 'server.trustProxy': 'yes' } }).code).not.toBe(0);
  });

  it('a JWKS URL needs issuer and audience, and opens HTTPS egress', () => {
    const partial = template({ set: { 'auth.jwks.url': 'https://idp.example.com/jwks' } });
    expect(partial.code).not.toBe(0);
    expect(partial.stderr).toContain('auth.jwks.url needs auth.jwks.issuer and auth.jwks.audience');
    const docs = render({
      set: {
        'auth.jwks.url': 'https://idp.example.com/jwks',
        'auth.jwks.issuer': 'https://idp.example.com/',
        'auth.jwks.audience': 'chat',
      },
    });
    expect(configOf(docs)).toMatchObject({
      AUTH_JWKS_URL: 'https://idp.example.com/jwks',
      AUTH_JWKS_ISSUER: 'https://idp.example.com/',
      AUTH_JWKS_AUDIENCE: 'chat',
    });
    const np = ofKind<
      { metadata: { name: string }; spec: { egress: { ports?: { port: number }[] }[] } } & Manifest
    >(docs, 'NetworkPolicy').find((n) => n.metadata.name === 'rel-chat');
    expect(np?.spec.egress.some((e) => e.ports?.some((p) => p.port === 443))).toBe(true);
    const without = ofKind<
      { metadata: { name: string }; spec: { egress: { ports?: { port: number }[] }[] } } & Manifest
    >(rendered('default'), 'NetworkPolicy').find((n) => n.metadata.name === 'rel-chat');
    expect(without?.spec.egress.some((e) => e.ports?.some((p) => p.port === 443))).toBe(false);
  });
});
