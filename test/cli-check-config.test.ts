// `dsmip6 check-config` as an operator runs it: the compiled CLI on the example files and on a
// file with mistakes, whose every problem must be named with its field path.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, writeTemp } from './support/tools.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function check(...args: string[]) {
  const r = spawnSync('node', ['dist/cli/main.js', 'check-config', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dsmip6 check-config', () => {
  it('accepts the example configurations, telling the role', () => {
    expect(check('config/ha.example.json')).toMatchObject({ code: 0, out: expect.stringMatching(/valid home agent configuration/) });
    expect(check('config/mn.example.json')).toMatchObject({ code: 0, out: expect.stringMatching(/valid mobile node configuration/) });
  });

  it('names every bad field, with a suggestion for a typo', () => {
    const file = writeTemp(tmp.dir, 'bad.json', JSON.stringify({ hoa: '2001:db8:1::100', haAdress: '2001:db8:1::1', lifetimeSeconds: -5 }));
    const r = check(file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/haAdress: unknown field; did you mean 'haAddress'\?/);
    expect(r.err).toMatch(/lifetimeSeconds: /);
    expect(r.err).toMatch(/keys: is required/);
  });

  it('refuses a file whose role it cannot tell, and a bad --role', () => {
    const file = writeTemp(tmp.dir, 'neither.json', '{"x": 1}');
    expect(check(file)).toMatchObject({ code: 1, err: expect.stringMatching(/give --role ha or --role mn/) });
    expect(check('config/mn.example.json', '--role', 'cn')).toMatchObject({ code: 1, err: expect.stringMatching(/--role must be ha or mn/) });
  });

  it('reports unreadable files and bad JSON as configuration errors', () => {
    expect(check(`${tmp.dir}/missing.json`, '--role', 'ha')).toMatchObject({ code: 1 });
    const broken = writeTemp(tmp.dir, 'broken.json', '{"hoa": ');
    expect(check(broken, '--role', 'mn').err).toMatch(/JSON|json/);
  });
});
