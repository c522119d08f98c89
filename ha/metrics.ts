// The home agent's Prometheus metrics: bindings, BUs received / accepted / rejected by BA status, BAs
// sent, data packets both ways and drops by reason (all read from HomeAgent.counters and its binding
// cache when Prometheus scrapes), the ESP counters of its IPsec engine, and handovers, which the
// daemon counts when a binding moves to another care-of address.
// It must never be touched per packet and never change the agent: it only reads what ha/status.ts reads.
import { Counter, Gauge } from 'prom-client';
import { counterFrom, newRegistry, registerEspMetrics, type Registry } from '../common/metrics.js';
import type { HomeAgent } from './agent.js';

export class HaMetrics {
  readonly registry: Registry;
  private readonly handovers: Counter;

  /** `agent` may return undefined while the daemon is still starting (the series then read 0). */
  constructor(agent: () => HomeAgent | undefined, opts: { defaultMetrics?: boolean } = {}) {
    const r = (this.registry = newRegistry(opts));
    new Gauge({
      name: 'dsmip6_ha_bindings',
      help: 'Bindings in the binding cache',
      registers: [r],
      collect() {
        const a = agent();
        if (a) this.set(a.cache.snapshot().length);
      },
    });
    const c = () => agent()?.counters;
    counterFrom(r, 'dsmip6_ha_binding_updates_received_total', 'BUs that ESP authenticated and registration processed', () => c()?.buReceived);
    counterFrom(r, 'dsmip6_ha_binding_updates_accepted_total', 'BUs answered with BA status < 128', () => c()?.buAccepted);
    counterFrom(r, 'dsmip6_ha_binding_updates_rejected_total', 'BUs answered with BA status >= 128, by status', () => c()?.buRejected, 'status');
    counterFrom(r, 'dsmip6_ha_binding_acks_sent_total', 'BAs handed to an edge', () => c()?.baSent);
    counterFrom(r, 'dsmip6_ha_packets_to_mobile_total', 'Data packets tunnelled from the home network to a mobile node', () => c()?.toMobile);
    counterFrom(r, 'dsmip6_ha_packets_from_mobile_total', 'Data packets from a mobile node delivered to the home network', () => c()?.fromMobile);
    counterFrom(r, 'dsmip6_ha_drops_total', "Packets the home agent dropped, by reason (tunnel:*, ipsec-in:*, ipsec-out:*, no-binding, coa-mismatch, ...)", () => c()?.drops, 'reason');
    this.handovers = new Counter({ name: 'dsmip6_ha_handovers_total', help: 'Bindings moved to another care-of address by an accepted BU', registers: [r] });
    registerEspMetrics(r, () => agent()?.engine);
  }

  /** A binding moved to another care-of address (called by the daemon on a binding change, never per packet). */
  handover(): void {
    this.handovers.inc();
  }
}
