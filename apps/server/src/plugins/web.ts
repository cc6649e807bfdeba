import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import fp from 'fastify-plugin';

/**
 * apps/web/dist, seen from this module: apps/server/dist/server.js (the bundle, two levels
 * below apps/) or apps/server/src/plugins/web.ts (tsx in development, three levels below).
 */
export function defaultWebRoot(from: string = fileURLToPath(import.meta.url)): string {
  const here = dirname(from);
  const candidates = ['../../web/dist', '../../../web/dist'].map((rel) => resolve(here, rel));
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? resolve(here, '../../web/dist');
}

/**
 * Security headers for every HTTP response and the built web app at `/`. The CSP allows only
 * this origin (including its WebSocket, plus CSP_CONNECT_SRC) so an injected script has nowhere
 * to load from or send to.
 */
export default fp(
  async (app) => {
    await app.register(helmet, {
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          // 'self' covers this origin's ws:/wss: too (CSP Level 3); nothing else unless configured.
          connectSrc: ["'self'", ...app.config.CSP_CONNECT_SRC.split(/\s+/).filter(Boolean)],
          imgSrc: ["'self'", 'data:'],
          styleSrc: ["'self'"],
          scriptSrc: ["'self'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: null,
        },
      },
      // The demo runs on plain http://localhost; HSTS belongs on the TLS-terminating gateway.
      strictTransportSecurity: false,
    });

    const root = app.config.WEB_ROOT || defaultWebRoot();
    if (!existsSync(join(root, 'index.html'))) {
      app.log.warn(
        { root },
        'web app not built: run `pnpm build` to serve the chat UI (`pnpm dev` serves it with hot reload)',
      );
      app.get('/', async (_req, reply) =>
        reply
          .type('text/plain')
          .send(
            'The chat server is running, but the web app is not built. Run `pnpm build` and restart, or use `pnpm dev`.\n',
          ),
      );
      return;
    }
    await app.register(fastifyStatic, {
      root,
      wildcard: false,
      maxAge: '1h',
      immutable: false,
      // Source maps are not served even if a build left some behind.
      allowedPath: (path) => !path.endsWith('.map'),
    });
    app.setNotFoundHandler((req, reply) => {
      // Client-side routes get the app; unknown API paths stay 404.
      if (req.method === 'GET' && !req.url.startsWith('/api/') && req.headers.accept?.includes('text/html')) {
        return reply.type('text/html').sendFile('index.html');
      }
      return reply.code(404).send({ error: 'not_found' });
    });
  },
  { name: 'web', dependencies: ['config'] },
);
