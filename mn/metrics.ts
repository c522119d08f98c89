// The mobile node's Prometheus metrics: whether it is registered, BUs sent, BAs received, failed
// registrations by BA status, data packets both ways and drops by reason (read from
// MobileNode.counters and its binding update list when Prometheus scrapes), the ESP counters of its
// IPsec engine, and what the daemon reports as it happens: handovers and the BU-to-BA round trip.
// It must never be touched per packet and never drive the node: it only reads what mn/status.ts reads.
import { Counter, Gauge, Histogram } from 'prom-client';
import { counterFrom, newRegistry, registerEspMetrics, type Registry } from '../common/metrics.js';
import type { MobileNode } from './node.js';

/** Seconds; from a LAN round trip to the 32-s cap of the BU backoff (RFC 6275 MAX_BINDACK_TIMEOUT). */
export const BU_BA_BUCKETS = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 32]);

export class MnMetrics {
  readonly registry: Registry;
  private readonly handovers: Counter;
  private readonly latency: Histogram<'result'>;

  /** `node` may return undefined while the daemon is still starting (the series then read 0). */
  constructor(node: () => MobileNode | undefined, opts: { defaultMetrics?: boolean } = {}) {
    const r = (this.registry = newRegistry(opts));
    new Gauge({
      name: 'dsmip6_mn_registered',
      help: '1 while the home agent holds a binding for this node (the last accepted BA), else 0',
      registers: [r],
      collect() {
        const n = node();
        if (n) this.set(n.registeredCoa === null ? 0 : 1);
      },
    });
    new Gauge({
      name: 'dsmip6_mn_at_home',
      help: '1 while the node is on its home link',
      registers: [r],
      collect() {
        const n = node();
        if (n) this.set(n.atHome ? 1 : 0);
      },
    });
    const c = () => node()?.counters;
    counterFrom(r, 'dsmip6_mn_binding_updates_sent_total', 'BUs sent (first, retransmitted, refresh, keepalive, deregistration)', () => c()?.buSent);
    counterFrom(r, 'dsmip6_mn_binding_acks_received_total', 'BAs that ESP authenticated', () => c()?.baReceived);
    counterFrom(r, 'dsmip6_mn_registrations_failed_total', 'BAs with status >= 128, by status', () => c()?.failed, 'status');
    counterFrom(r, 'dsmip6_mn_packets_to_ha_total', 'Data packets from the home address(es) sent through the tunnel', () => c()?.toHa);
    counterFrom(r, 'dsmip6_mn_packets_from_ha_total', 'Data packets from the tunnel delivered to the home address(es)', () => c()?.fromHa);
    counterFrom(r, 'dsmip6_mn_drops_total', 'Packets the mobile node dropped, by reason (not-registered, tunnel:*, ipsec-in:*, ...)', () => c()?.drops, 'reason');
    this.handovers = new Counter({
      name: 'dsmip6_mn_handovers_total',
      help: 'Accepted registrations that moved the binding to another care-of address, or home; the first one after start counts only when it leaves the home link',
      registers: [r],
    });
    this.latency = new Histogram({
      name: 'dsmip6_mn_bu_ba_latency_seconds',
      help: 'From sending a BU to receiving the BA with its sequence number, by result (accepted: status < 128)',
      labelNames: ['result'],
      buckets: [...BU_BA_BUCKETS],
      registers: [r],
    });
    registerEspMetrics(r, () => node()?.engine);
  }

  handover(): void {
    this.handovers.inc();
  }

  /** A BA answered the outstanding BU after `ms` milliseconds with `status`. */
  bindingAck(ms: number, status: number): void {
    this.latency.observe({ result: status < 128 ? 'accepted' : 'rejected' }, Math.max(0, ms) / 1000);
  }
}
