/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The stream server serves dist/ at `/` and the API + WebSocket on the same origin.
// In development, Vite proxies both to a locally running `stream-server` (default bind address). The server
// refuses browser requests from other origins (docs/operations.md, "Limits and hardening"), so the proxy presents
// the backend's own origin, as the page would if the server served it.
const backend = process.env.STREAM_BACKEND ?? 'http://127.0.0.1:8080';
const asBackend = { origin: backend };

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      '/v1': { target: backend, changeOrigin: true, headers: asBackend },
      '/ws': { target: backend, ws: true, changeOrigin: true, headers: asBackend },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['./src/test/setup.ts'],
    restoreMocks: true,
  },
});
