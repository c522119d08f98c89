// Test helpers that run Wireshark's command-line tools (tshark, text2pcap, capinfos),
// our independent judges of the wire format. scripts/ensure-deps.sh --test installs them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 << 20 });
}

/** A temporary directory removed by the returned cleanup, even if the test fails (call it in finally/afterAll). */
export function tempDir(prefix = 'dsmip6-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `data` to a file in `dir` and returns its path. */
export function writeTemp(dir: string, name: string, data: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
}

/** Formats octets as a text2pcap/od-style hex dump (offset then 16 octets per line). */
export function hexdump(data: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += 16) {
    const row = Array.from(data.subarray(off, off + 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${off.toString(16).padStart(6, '0')} ${row}`);
  }
  return lines.join('\n') + '\n';
}
