// The browser pages and their assets: files of the package's web/ folder and uPlot from its npm package, served
// under /static/. Only plain names of known types are served (no paths, so nothing outside these folders).

import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset { body: Buffer; type: string }

// src/server/ and dist/server/ are both two levels below the package root.
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');
const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** `name` is "chat.html", "dashboard.js", … or "vendor/uPlot.iife.min.js" / "vendor/uPlot.min.css". */
export async function staticAsset(name: string): Promise<Asset | null> {
  const vendor = name.startsWith('vendor/') ? name.slice(7) : null;
  const file = vendor ?? name;
  const type = TYPES[path.extname(file)];
  if (!type || !/^[\w.-]+$/.test(file) || file.startsWith('.')) return null;
  if (vendor && !vendor.startsWith('uPlot.')) return null;
  try {
    return { body: await fs.readFile(path.join(vendor ? UPLOT_DIR : WEB_DIR, file)), type };
  } catch {
    return null;
  }
}
