// The dashboard's build: a React single-page app in web/, built into dist/web, which the server
// serves at / (src/http/web.plugin.ts). Nothing is loaded from a CDN at run time. Build with
// NODE_ENV=production (npm run build does): under any other NODE_ENV, React's JSX is compiled
// for development.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    // The size budget (350 kB gzipped) is checked by the browser tests, not by warnings here.
    // Clerk's SDK is one chunk of about 1.1 MB (390 kB gzipped), loaded only with Clerk sign-in.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    // `npm run dev:web` serves the app with hot reload and sends /api to the server.
    proxy: { '/api': 'http://127.0.0.1:3001', '/dashboard-config.json': 'http://127.0.0.1:3001' },
  },
});
