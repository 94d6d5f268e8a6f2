// eq. 1 and eq. 4: float32 → integers, round half to even (f64 division, as the reference).

/** eq. 1: dst[r][c] = clip(nearest(src[r][c] / scale[r or 0]), -2^(h-1), 2^(h-1)-1) as int8. */
export function quantizeWeights(src: usize, n: i32, k: i32, scales: usize, perChannel: i32, h: i32, dst: usize): void {
  const lo = <f64>-(1 << (h - 1));
  const hi = <f64>((1 << (h - 1)) - 1);
  for (let r = 0; r < n; r++) {
    const s = <f64>load<f32>(scales + (perChannel ? <usize>r << 2 : 0));
    const row = <usize>r * <usize>k;
    for (let c = 0; c < k; c++) {
      const q = nearest(<f64>load<f32>(src + ((row + c) << 2)) / s);
      store<i8>(dst + row + c, <i8><i32>min(max(q, lo), hi));
    }
  }
}

/** eq. 4: dst[i] = clip(nearest(src[i] / scale), 0, 2^bits - 1) as uint8. */
export function quantizeActivations(src: usize, len: i32, scale: f64, bits: i32, dst: usize): void {
  const hi = <f64>((1 << bits) - 1);
  for (let i = 0; i < len; i++) {
    const q = nearest(<f64>load<f32>(src + (<usize>i << 2)) / scale);
    store<u8>(dst + i, <u8><i32>min(max(q, 0.0), hi));
  }
}
