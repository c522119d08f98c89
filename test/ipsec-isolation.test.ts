// The ipsec module stands alone: it imports nothing from mn/, ha/ or tunnel/ (nor
// anything else outside ipsec/ except node: built-ins), and no file mentions a
// mobility concept.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const DIR = join(import.meta.dirname, '..', 'ipsec');
const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));

describe('ipsec/ isolation', () => {
  test('there are source files to check', () => {
    expect(files).toContain('ipsec.ts');
    expect(files).toContain('index.ts');
  });

  test.each(files)('%s imports only ./*.js siblings and node: built-ins', (f) => {
    const text = readFileSync(join(DIR, f), 'utf8');
    const specs = [...text.matchAll(/(?:^|\s)(?:import|export)\s[^;]*?\sfrom\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\s*\(\s*['"]([^'"]+)['"]/g), ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    for (const s of specs) {
      expect(s, `${f}: ${s}`).toMatch(/^(\.\/[A-Za-z0-9_-]+\.js|node:[a-z_/]+)$/);
      expect(s).not.toMatch(/(^|\/)(mn|ha|tunnel|common)\//);
    }
    expect(text).not.toMatch(/\brequire\s*\(/);
  });

  test.each(files)('%s names no mobility concept', (f) => {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const word of ['home address', 'care-of', 'binding', 'mobile node', 'home agent', 'correspondent']) {
      expect(text.toLowerCase(), `${f} mentions '${word}'`).not.toContain(word);
    }
    for (const abbrev of ['MN', 'HA', 'HoA', 'CoA', 'BU', 'BA', 'BCE', 'BUL']) {
      expect(new RegExp(`\\b${abbrev}\\b`).test(text), `${f} mentions '${abbrev}'`).toBe(false);
    }
  });

  test('each file opens with what it is and what it must never do', () => {
    for (const f of files) {
      const head = readFileSync(join(DIR, f), 'utf8').split('\n').slice(0, 8).join('\n');
      expect(head.startsWith('//'), f).toBe(true);
      expect(head, f).toMatch(/\bnever\b/i);
    }
  });
});
