// Builds the page into the Python package (src/mpgenie/web_static), which the platform API serves at /play/.
// Relative asset URLs (base './'), so the page works under any prefix.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: '../src/mpgenie/web_static',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
});
