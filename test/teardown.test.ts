// The daemons' undo stack: newest first, once, and a failing step neither stops the others nor throws.
import { describe, expect, it } from 'vitest';
import { Teardown } from '../common/teardown.js';

describe('Teardown', () => {
  it('undoes newest first, reports failures, and runs each step once', async () => {
    const done: string[] = [];
    const reports: string[] = [];
    const t = new Teardown((m) => reports.push(m));
    t.push(() => void done.push('tun'));
    t.push(() => {
      throw new Error('nft gone');
    });
    t.push(async () => void done.push('socket'));
    const first = t.run();
    expect(t.run()).toBe(first);
    await first;
    await t.run();
    expect(done).toEqual(['socket', 'tun']);
    expect(reports).toEqual(['shutdown step failed: nft gone']);
  });
});
