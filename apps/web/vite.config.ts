import react from '@vitejs/plugin-react';
import { defineConfig, loadEnv } from 'vite';

// In development (`pnpm dev` at the root, scripts/dev.mjs) Vite serves the page with hot reload
// and proxies the WebSocket, the API and the probes to the chat server, so page and socket
// share one origin, as in production where the server serves apps/web/dist itself.
// CHAT_SERVER_URL is where the server listens (scripts/dev.mjs sets it; default :8081).
export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, '.', 'CHAT_');
  const target = env.CHAT_SERVER_URL || 'http://localhost:8081';
  const proxy = {
    '/ws': { target, ws: true, changeOrigin: false },
    '/api': { target, changeOrigin: false },
    '/livez': { target },
    '/readyz': { target },
  };
  return {
    plugins: [react()],
    server: { proxy },
    preview: { proxy },
    // No source maps in a production build: the server would serve them to anyone (1.5 MB of
    // the app's source). `vite build --mode development` makes them for debugging.
    build: { outDir: 'dist', emptyOutDir: true, sourcemap: mode !== 'production' },
  };
});
