// The MN daemon's pool of UDP 4191 Binds per IPv4 CoA (mn/daemon.ts Udp4BindPool): one socket per
// address however often the node opens and closes it, a closed view neither sends nor delivers,
// and a socket closes once its address is gone and no view uses it. Fake Binds, no sockets.
import { describe, expect, it } from 'vitest';
import type { Bind, DatagramBatchHandler, OutgoingDatagram, ReceivedDatagram } from '../tunnel/bind.js';
import { Udp4BindPool } from '../mn/daemon.js';

interface FakeBind extends Bind {
  handler: DatagramBatchHandler | null;
  sent: number;
  closed: boolean;
  deliver(d: ReceivedDatagram[]): void;
}

function fake(address: string): FakeBind {
  const b: FakeBind = {
    localAddress: address,
    localPort: 4191,
    batchSize: 8,
    counters: {} as Bind['counters'],
    handler: null,
    sent: 0,
    closed: false,
    onBatch(h) {
      b.handler = h;
    },
    send(d: readonly OutgoingDatagram[]) {
      if (b.closed) return 0;
      b.sent += d.length;
      return d.length;
    },
    close() {
      b.closed = true;
    },
    deliver(d) {
      b.handler?.(d);
    },
  };
  return b;
}

const dgram: OutgoingDatagram = { data: new Uint8Array(4), dstAddr: '203.0.113.2', dstPort: 4191 };

describe('Udp4BindPool', () => {
  it('keeps one socket per address across the node opening and closing it', () => {
    const opened: FakeBind[] = [];
    const pool = new Udp4BindPool((a) => {
      const b = fake(a);
      opened.push(b);
      return b;
    });
    const got: number[] = [];
    const v1 = pool.open('198.51.100.100');
    v1.onBatch((ds) => got.push(ds.length));
    expect(v1.send([dgram])).toBe(1);
    v1.close(); // the node left this CoA
    expect(v1.send([dgram])).toBe(0);
    opened[0].deliver([{ data: new Uint8Array(1) } as ReceivedDatagram]); // discarded, not handed to the old handler
    expect(got).toEqual([]);
    const v2 = pool.open('198.51.100.100'); // moving back: no new socket
    expect(opened).toHaveLength(1);
    v2.onBatch((ds) => got.push(ds.length * 10));
    opened[0].deliver([{ data: new Uint8Array(1) } as ReceivedDatagram]);
    expect(got).toEqual([10]);
    v1.close(); // a stale view closing again does not detach the current one
    opened[0].deliver([{ data: new Uint8Array(1) } as ReceivedDatagram]);
    expect(got).toEqual([10, 10]);
    expect(opened[0].sent).toBe(1);
  });

  it('closes a socket when its address is gone and no view uses it; everything at close()', () => {
    const opened = new Map<string, FakeBind>();
    const pool = new Udp4BindPool((a) => {
      const b = fake(a);
      opened.set(a, b);
      return b;
    });
    const inUse = pool.open('198.51.100.100');
    pool.open('10.9.0.5').close();
    pool.retain(new Set()); // neither address on the MN any more
    expect(opened.get('10.9.0.5')!.closed).toBe(true);
    expect(opened.get('198.51.100.100')!.closed).toBe(false); // the node still sends from it
    inUse.close();
    pool.retain(new Set(['198.51.100.100'])); // address still there: kept for the next move
    expect(opened.get('198.51.100.100')!.closed).toBe(false);
    pool.close();
    expect(opened.get('198.51.100.100')!.closed).toBe(true);
  });
});
