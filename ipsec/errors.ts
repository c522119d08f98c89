// Named control-plane errors of the IPsec module (adding/removing SAs and policies).
// Each names the offending field and says what is allowed. The data plane must never
// throw these (or anything): it drops and counts instead.

/** Base class: `field` is the configuration field at fault ('' when none applies). */
export class IpsecError extends Error {
  override name = 'IpsecError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

/** An SA description is invalid (bad SPI, algorithm, key length, mode, lifetime...). */
export class InvalidSaError extends IpsecError {
  override name = 'InvalidSaError';
}

/** An SA with this SPI already exists (SPIs are unique across the whole SAD). */
export class DuplicateSpiError extends IpsecError {
  override name = 'DuplicateSpiError';
  constructor(readonly spi: number) {
    super('spi', `an SA with SPI 0x${spi.toString(16)} already exists; remove it first or pick another SPI`);
  }
}

/** No SA has this SPI. */
export class UnknownSpiError extends IpsecError {
  override name = 'UnknownSpiError';
  constructor(readonly spi: number) {
    super('spi', `no SA has SPI 0x${(spi >>> 0).toString(16)}`);
  }
}

/** A traffic selector (address, prefix, range, protocol, port, type) is invalid. */
export class InvalidSelectorError extends IpsecError {
  override name = 'InvalidSelectorError';
}

/** A policy description is invalid (direction, action, position...). */
export class InvalidPolicyError extends IpsecError {
  override name = 'InvalidPolicyError';
}

/** A policy with this id already exists. */
export class DuplicatePolicyError extends IpsecError {
  override name = 'DuplicatePolicyError';
  constructor(readonly id: string) {
    super('id', `a policy with id '${id}' already exists; remove it first or pick another id`);
  }
}

/** No policy has this id. */
export class UnknownPolicyError extends IpsecError {
  override name = 'UnknownPolicyError';
  constructor(readonly id: string) {
    super('id', `no policy has id '${id}'`);
  }
}
