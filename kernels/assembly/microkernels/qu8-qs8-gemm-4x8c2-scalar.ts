// Family qu8-qs8-gemm-4x8c2-scalar (scalar build): the dot16x2 panel layout (int16 weight pairs),
// one row at a time with 8 accumulators in locals.

/** path 0, scalar build: same panel layout (int16 pairs), one row at a time with 8 accumulators in locals. */
export function kernel4x8Scalar(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, tile: usize): void {
  for (let r = 0; r < 4; r++) {
    let ar = r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : a3;
    let wp = w;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
    for (let p = 0; p < pairs; p++) {
      const x0 = <i32>load<u8>(ar);
      const x1 = <i32>load<u8>(ar, 1);
      ar += 2;
      c0 += <i32>load<i16>(wp) * x0 + <i32>load<i16>(wp, 2) * x1;
      c1 += <i32>load<i16>(wp, 4) * x0 + <i32>load<i16>(wp, 6) * x1;
      c2 += <i32>load<i16>(wp, 8) * x0 + <i32>load<i16>(wp, 10) * x1;
      c3 += <i32>load<i16>(wp, 12) * x0 + <i32>load<i16>(wp, 14) * x1;
      c4 += <i32>load<i16>(wp, 16) * x0 + <i32>load<i16>(wp, 18) * x1;
      c5 += <i32>load<i16>(wp, 20) * x0 + <i32>load<i16>(wp, 22) * x1;
      c6 += <i32>load<i16>(wp, 24) * x0 + <i32>load<i16>(wp, 26) * x1;
      c7 += <i32>load<i16>(wp, 28) * x0 + <i32>load<i16>(wp, 30) * x1;
      wp += 32;
    }
    const t = tile + (<usize>r << 5);
    store<i32>(t, c0); store<i32>(t, c1, 4); store<i32>(t, c2, 8); store<i32>(t, c3, 12);
    store<i32>(t, c4, 16); store<i32>(t, c5, 20); store<i32>(t, c6, 24); store<i32>(t, c7, 28);
  }
}
