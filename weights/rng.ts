/** A small seeded PRNG (mulberry32) with Gaussian samples, for reproducible weights and noise. */
export class Rng {
  private state: number;
  private spare: number | null = null;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

// ---------------------------------------------------------------------------------------------
// Noise. Everything random in the app comes from `Rng` (never tfjs's `randomNormal`, whose seed 0
// means "unseeded"), so every seed, 0 included, gives the same values every time on every backend.

/** A 32-bit integer hash (murmur3's finaliser): nearby seeds give unrelated streams. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The generator for noise (inputs, sampling) seeded `seed`: a stream apart from the weights'
 * `new Rng(seed)`, so one seed can drive both without the noise repeating the first weights.
 */
export function noiseRng(seed: number): Rng {
  return new Rng(mix32((seed >>> 0) ^ 0x6e6f6973));
}

/** `n` standard normal values from `rng`. */
export function normals(rng: Rng, n: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}
