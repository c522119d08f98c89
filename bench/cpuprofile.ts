// Summary of a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function, the top
// frames as shares of the busy (non-idle) samples, and the project's own functions by inclusive
// time. Pure: reads one file (or takes the object), returns numbers; it must never write anything.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Frame {
  /** "name (file:line)" with the file relative to the project, or a V8 pseudo-frame like "(garbage collector)". */
  frame: string;
  /** Self time (top) or inclusive time (ownInclusive), ms. */
  selfMs: number;
  /** Share of the busy time (all samples but "(idle)"). */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: Frame[];
  /** The project's own functions (under dist/) by inclusive time: themselves and all they call. */
  ownInclusive: Frame[];
  /** Every frame by self time (for grouping). */
  all: Frame[];
}

/** Self time summed over the frames each pattern matches (first match wins), as shares of busy time; the rest is "other". */
export function categorize(s: ProfileSummary, groups: readonly { name: string; re: RegExp }[]): { name: string; ms: number; share: number }[] {
  const out = groups.map((g) => ({ name: g.name, ms: 0, share: 0 }));
  const other = { name: 'everything else', ms: 0, share: 0 };
  for (const f of s.all) {
    const i = groups.findIndex((g) => g.re.test(f.frame));
    (i >= 0 ? out[i]! : other).ms += f.selfMs;
  }
  for (const o of [...out, other]) o.share = s.busyMs > 0 ? o.ms / s.busyMs : 0;
  return [...out, other];
}

/** `source`: a .cpuprofile file name, or the profile object (node:inspector's Profiler.stop result). */
export function summarize(source: string | object, root: string, topN = 15): ProfileSummary {
  const p = (typeof source === 'string' ? JSON.parse(readFileSync(source, 'utf8')) : source) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode): string => {
    const cf = n.callFrame;
    const url = cf.url.replace(/^file:\/\//, '').replace(root, '');
    return url ? `${cf.functionName || '(anonymous)'} (${url}:${cf.lineNumber + 1})` : cf.functionName || '(anonymous)';
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const n = byId.get(p.samples[i]!);
    if (!n) continue;
    total += dt;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const key = keyOf(n);
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const a = byId.get(id)!;
      if (!a.callFrame.url.includes('/dist/')) continue;
      const k = keyOf(a);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  }
  const busy = total - idle;
  const all = [...self.entries()].sort((a, b) => b[1] - a[1]).map(([frame, ms]) => ({ frame, selfMs: ms, share: busy > 0 ? ms / busy : 0 }));
  const top = all.slice(0, topN);
  const ownInclusive = [...incl.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([frame, ms]) => ({ frame, selfMs: ms, share: busy > 0 ? ms / busy : 0 }));
  return { totalMs: total, idleMs: idle, busyMs: busy, top, ownInclusive, all };
}
