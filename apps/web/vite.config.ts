import react from '@vitejs/plugin-react';
import { defineConfig, loadEnv } from 'vite';

// In development the chat server runs on :8080 (`pnpm dev` at the root); Vite proxies the
// WebSocket and the token endpoint to it so the page and the socket share one origin, as in
// production where the server serves apps/web/dist itself. CHAT_SERVER_URL points elsewhere.
export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, '.', 'CHAT_');
  const target = env.CHAT_SERVER_URL || 'http://localhost:8080';
  const proxy = {
    '/ws': { target, ws: true, changeOrigin: false },
    '/api': { target, changeOrigin: false },
  };
  return {
    plugins: [react()],
    server: { proxy },
    preview: { proxy },
    build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  };
});
