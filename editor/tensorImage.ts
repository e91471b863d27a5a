/**
 * Tensors as pictures for the run panel, framework-free: an NHWC output as an RGBA image
 * ([-1, 1] → [0, 255], as `tf.browser.toPixels` writes a float image in [0, 1]), a tensor's first
 * sample read back to the host (`HostMap`), one heat map per channel, and a picked image file as a
 * model input. The pure parts run in Node (the controller's tests); `putRgba` and `fileToPixels`
 * need a DOM and are called by the view only.
 */
import * as tf from '@tensorflow/tfjs';

/** RGBA bytes, row-major, `width × height × 4` (what `ImageData` holds). */
export interface RgbaImage {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** A tensor's values on the host, `[H, W, C]`. */
export interface HostMap {
  readonly data: Float32Array;
  readonly h: number;
  readonly w: number;
  readonly c: number;
}

/** One channel of a `HostMap` as a heat map, with the range it was scaled from. */
export interface ChannelImage {
  readonly channel: number;
  readonly lo: number;
  readonly hi: number;
  readonly image: RgbaImage;
}

/** The most channels a grid shows. */
export const MAX_CHANNELS = 32;

/** How the panel prints a statistic: fixed for large values and zero, 3 significant digits otherwise. */
export const fmt = (v: number): string => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(1) : v.toPrecision(3));

/**
 * The first sample of an NHWC tensor as an image: C = 1 (grey) or 3 as is, more channels → the
 * first 3, 2 channels → the first; values in [-1, 1] map to [0, 255] (clipped). Does not dispose `t`.
 */
export async function toRgba(t: tf.Tensor4D): Promise<RgbaImage> {
  const img = tf.tidy(() => {
    const first = tf.squeeze(tf.slice(t, [0, 0, 0, 0], [1, -1, -1, -1]), [0]) as tf.Tensor3D;
    const c = first.shape[2];
    const rgb = c === 1 || c === 3 ? first : c > 3 ? tf.slice(first, [0, 0, 0], [-1, -1, 3]) : tf.slice(first, [0, 0, 0], [-1, -1, 1]);
    return tf.clipByValue(tf.div(tf.add(rgb, 1), 2), 0, 1) as tf.Tensor3D;
  });
  const [height, width, depth] = img.shape;
  let values: Float32Array;
  try {
    values = (await img.data()) as Float32Array;
  } finally {
    img.dispose();
  }
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let k = 0; k < 3; k++) data[4 * p + k] = Math.round(255 * values[p * depth + (depth === 1 ? 0 : k)]);
    data[4 * p + 3] = 255;
  }
  return { data, width, height };
}

/** The first sample of an NHWC tensor (or a `[N, C]` vector as a 1×C map with one channel), read back asynchronously. Does not dispose `t`. */
export async function hostMap(t: tf.Tensor): Promise<HostMap> {
  const first = tf.tidy(() => (t.rank === 4 ? tf.squeeze(tf.slice(t, [0, 0, 0, 0], [1, -1, -1, -1]), [0]) : tf.reshape(tf.slice(t, [0, 0], [1, -1]), [1, -1, 1])));
  try {
    const data = (await first.data()) as Float32Array;
    const [h, w, c] = first.shape as [number, number, number];
    return { data, h, w, c };
  } finally {
    first.dispose();
  }
}

/**
 * One heat map per channel (the first `MAX_CHANNELS`), each scaled to its own range on a blue →
 * yellow ramp (flat channels are mid-ramp), or, with `grey`, as a grey picture (a latent's channels).
 */
export function channelImages(map: HostMap, grey = false): ChannelImage[] {
  const { h, w, c, data } = map;
  const out: ChannelImage[] = [];
  for (let ch = 0; ch < Math.min(c, MAX_CHANNELS); ch++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = ch; i < data.length; i += c) {
      lo = Math.min(lo, data[i]);
      hi = Math.max(hi, data[i]);
    }
    const px = new Uint8ClampedArray(4 * h * w);
    for (let p = 0; p < h * w; p++) {
      const v = hi > lo ? (data[p * c + ch] - lo) / (hi - lo) : 0.5;
      if (grey) {
        px[4 * p] = px[4 * p + 1] = px[4 * p + 2] = Math.round(255 * v);
        px[4 * p + 3] = 255;
        continue;
      }
      px[4 * p] = Math.round(255 * Math.min(1, 2 * v));
      px[4 * p + 1] = Math.round(255 * v);
      px[4 * p + 2] = Math.round(255 * (1 - v));
      px[4 * p + 3] = 255;
    }
    out.push({ channel: ch, lo, hi, image: { data: px, width: w, height: h } });
  }
  return out;
}

/**
 * RGBA pixels (`w × h`) as a model input of C×H×W in [-1, 1] (PyTorch's layout): RGB for three
 * or more channels (channels past the third read the grey value), the grey mean otherwise.
 */
export function pixelsToInput(px: ArrayLike<number>, c: number, h: number, w: number): Float32Array {
  if (px.length !== 4 * h * w) throw new Error(`the image has ${px.length / 4} pixels, ${h}×${w} = ${h * w} were expected`);
  const out = new Float32Array(c * h * w);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = 4 * (y * w + x);
      const gray = (px[p] + px[p + 1] + px[p + 2]) / 3;
      for (let ch = 0; ch < c; ch++) out[ch * h * w + y * w + x] = (ch < 3 && c >= 3 ? px[p + ch] : gray) / 127.5 - 1;
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// DOM only (the view)

/** Draws `img` on `canvas`, resizing it to the image. */
export function putRgba(canvas: HTMLCanvasElement, img: RgbaImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const data = ctx.createImageData(img.width, img.height);
  data.data.set(img.data);
  ctx.putImageData(data, 0, 0);
}

/** Decodes an image file and scales it to `w × h`: its RGBA pixels. */
export async function fileToPixels(file: Blob, h: number, w: number): Promise<Uint8ClampedArray> {
  const bitmap = await createImageBitmap(file);
  const cv = document.createElement('canvas');
  cv.width = w;
  cv.height = h;
  const ctx = cv.getContext('2d');
  if (!ctx) throw new Error('this browser gives no 2D canvas to read the image with');
  ctx.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  return ctx.getImageData(0, 0, w, h).data;
}
