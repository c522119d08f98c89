// Named errors for the wire codecs. Decoders throw only these (callers match on
// the class, never on message text); this module must never import a codec.

/** Base of every error a decoder may throw. `layer` names the header or option, `offset` the octet. */
export class DecodeError extends Error {
  override name = 'DecodeError';
  constructor(
    readonly layer: string,
    readonly offset: number,
    message: string,
  ) {
    super(`${layer} at octet ${offset}: ${message}`);
  }
}

/** The input ends before the structure it announces. */
export class TruncatedError extends DecodeError {
  override name = 'TruncatedError';
  constructor(layer: string, offset: number, needed: number, available: number) {
    super(layer, offset, `truncated: needs ${needed} octets, ${available} available`);
  }
}

/** A length field contradicts the structure's rules (too short, not a multiple, wrong for the type). */
export class BadLengthError extends DecodeError {
  override name = 'BadLengthError';
}

/** An Internet checksum does not verify. */
export class BadChecksumError extends DecodeError {
  override name = 'BadChecksumError';
  constructor(
    layer: string,
    offset: number,
    readonly received: number,
    readonly expected: number,
  ) {
    super(layer, offset, `bad checksum 0x${hex16(received)}, expected 0x${hex16(expected)}`);
  }
}

/** An option does not start at the offset its alignment rule (xn+y) requires. */
export class MisalignedError extends DecodeError {
  override name = 'MisalignedError';
}

/** A field holds a value the protocol forbids (wrong version, bad payload proto, ...). */
export class BadValueError extends DecodeError {
  override name = 'BadValueError';
}

/** An encoder was handed a value that cannot be put on the wire; names the field. */
export class EncodeError extends Error {
  override name = 'EncodeError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function hex16(n: number): string {
  return n.toString(16).padStart(4, '0');
}
