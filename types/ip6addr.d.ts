// Minimal typings for the parts of ip6addr (Joyent) that dsmip6 uses.
declare module 'ip6addr' {
  export interface Addr {
    kind(): 'ipv4' | 'ipv6';
    toString(opts?: { format?: 'auto' | 'v4' | 'v4-mapped' | 'v6'; zeroElide?: boolean; zeroPad?: boolean }): string;
    toBuffer(buf?: Uint8Array): Uint8Array;
    compare(other: Addr | string): number;
  }
  export interface CIDR {
    contains(addr: Addr | string): boolean;
    first(): Addr;
    last(): Addr;
    address(): Addr;
    prefixLength(format?: 'auto' | 'v4' | 'v6'): number;
    toString(): string;
  }
  export interface AddrRange {
    contains(addr: Addr | string): boolean;
    first(): Addr;
    last(): Addr;
  }
  export function parse(input: string | number | Addr): Addr;
  export function createCIDR(cidr: string | Addr, plen?: number): CIDR;
  export function createAddrRange(first: string | Addr, last: string | Addr): AddrRange;
  export function compare(a: string | Addr, b: string | Addr): number;
  const ip6addr: {
    parse: typeof parse;
    createCIDR: typeof createCIDR;
    createAddrRange: typeof createAddrRange;
    compare: typeof compare;
  };
  export default ip6addr;
}
