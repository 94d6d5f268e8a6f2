// Scalar references of the quantization kernels: eq. 1 and eq. 4 are the format package's own
// functions; eq. 2 on the stored layout composes the format's unpack, doubleRoundAll and pack.
import { doubleRoundAll, packSigned, unpackSigned } from '@bitswitch/format';

export { quantizeWeights as quantizeWeightsRef, quantizeActivations as quantizeActivationsRef } from '@bitswitch/format';

/** eq. 2 on a stored tensor: packSigned(doubleRoundAll(wh, h, l), l, n, k). */
export function downcastRef(stored: Uint8Array, h: number, l: number, n: number, k: number): Uint8Array {
  return packSigned(doubleRoundAll(unpackSigned(stored, h, n, k), h, l), l, n, k);
}
