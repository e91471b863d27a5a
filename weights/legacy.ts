/**
 * How a file's keys become the graph's: the one place every loader (runtime/weights.ts, the session,
 * graph/convert.ts, cli/run.ts) maps them.
 *
 * - Old names of weights accepted in place of today's: checkpoints written before diffusers renamed
 *   its attention layers call `to_q`/`to_k`/`to_v`/`to_out.0` `query`/`key`/`value`/`proj_attn`
 *   (diffusers renames them on load: `ModelMixin._convert_deprecated_attention_blocks`). A file key
 *   is renamed only when the graph expects the new name, the file lacks it, and the graph does not
 *   also expect the old one.
 * - A whole latent-diffusion / Stable Diffusion checkpoint keeps its UNet under
 *   `model.diffusion_model.` beside the autoencoder (`first_stage_model.`), the text encoder
 *   (`cond_stage_model.`), the EMA copy (`model_ema.`) and the schedule's buffers. When some file key
 *   has that prefix and no key the graph expects does, the prefix is stripped and every other key is
 *   ignored ({@link checkpointNote} says how many, by part). The check stays strict for the UNet.
 */

/** Where a latent-diffusion (Stable Diffusion) checkpoint keeps its UNet's state_dict. */
export const UNET_CHECKPOINT_PREFIX = 'model.diffusion_model.';

/** The file's keys that are another part of a whole checkpoint, when the graph is its UNet (else none). */
function checkpointParts(wanted: ReadonlySet<string>, present: ReadonlySet<string>): { readonly strip: boolean; readonly ignored: string[] } {
  const P = UNET_CHECKPOINT_PREFIX;
  let has = false;
  for (const k of present) if (k.startsWith(P)) has = true;
  if (!has) return { strip: false, ignored: [] };
  for (const k of wanted) if (k.startsWith(P)) return { strip: false, ignored: [] };
  return { strip: true, ignored: [...present].filter((k) => !k.startsWith(P)) };
}

/** Legacy sub-key → today's, for the last segments of a key (`….query.weight` → `….to_q.weight`). */
const LEGACY_SUFFIXES: readonly (readonly [string, string])[] = [
  ['query', 'to_q'],
  ['key', 'to_k'],
  ['value', 'to_v'],
  ['proj_attn', 'to_out.0'],
];

/**
 * The renames that make `fileKeys` match `expected`: file key → the expected key it stands for (the
 * checkpoint prefix stripped, legacy names made today's). Empty when nothing is to rename (the usual
 * case), so loaders can apply it unconditionally. Keys of a checkpoint's other parts are not in it:
 * {@link withLegacyNames} leaves them out.
 */
export function legacyKeyRenames(expected: Iterable<string>, fileKeys: Iterable<string>): Map<string, string> {
  const wanted = new Set(expected);
  const all = new Set(fileKeys);
  const renames = new Map<string, string>();
  let present = all;
  if (checkpointParts(wanted, all).strip) {
    present = new Set();
    for (const k of all) {
      if (!k.startsWith(UNET_CHECKPOINT_PREFIX)) continue;
      const now = k.slice(UNET_CHECKPOINT_PREFIX.length);
      renames.set(k, now);
      present.add(now);
    }
  }
  const original = new Map([...renames].map(([file, now]) => [now, file]));
  for (const key of present) {
    if (wanted.has(key)) continue;
    const m = /^(.*\.)?([^.]+)\.(weight|bias)$/.exec(key);
    if (!m) continue;
    const [, prefix = '', name, kind] = m;
    const now = LEGACY_SUFFIXES.find(([old]) => old === name)?.[1];
    if (now === undefined) continue;
    const target = `${prefix}${now}.${kind}`;
    if (wanted.has(target) && !present.has(target)) renames.set(original.get(key) ?? key, target);
  }
  return renames;
}

/**
 * `entries` (a file's tensors or shapes by key) under the graph's names: the checkpoint prefix
 * stripped, legacy keys renamed, a checkpoint's other parts left out, everything else as it is.
 */
export function withLegacyNames<V>(expected: Iterable<string>, entries: ReadonlyMap<string, V>): Map<string, V> {
  const wanted = new Set(expected);
  const renames = legacyKeyRenames(wanted, entries.keys());
  const ignored = new Set(checkpointParts(wanted, new Set(entries.keys())).ignored);
  if (renames.size === 0 && ignored.size === 0) return new Map(entries);
  return new Map([...entries].filter(([k]) => !ignored.has(k)).map(([k, v]) => [renames.get(k) ?? k, v]));
}

/**
 * What a loader tells the user when the file is a whole checkpoint (null otherwise): the UNet read
 * from under the prefix and how many tensors of the other parts were ignored, by part.
 */
export function checkpointNote(expected: Iterable<string>, fileKeys: Iterable<string>): string | null {
  const present = new Set(fileKeys);
  const { strip, ignored } = checkpointParts(new Set(expected), present);
  if (!strip) return null;
  const parts = new Map<string, number>();
  for (const k of ignored) {
    const dot = k.indexOf('.');
    const part = dot >= 0 ? k.slice(0, dot + 1) : k;
    parts.set(part, (parts.get(part) ?? 0) + 1);
  }
  const n = (x: number, what: string) => `${x.toLocaleString('en-US')} ${what}${x === 1 ? '' : 's'}`;
  const list = [...parts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([part, count]) => `${part} ${count.toLocaleString('en-US')}`);
  const shown = list.length > 8 ? [...list.slice(0, 8), `${list.length - 8} more`] : list;
  return (
    `a whole checkpoint: the UNet was read from under "${UNET_CHECKPOINT_PREFIX}" (${n(present.size - ignored.length, 'tensor')}); ` +
    (ignored.length > 0 ? `${n(ignored.length, 'tensor')} of its other parts ignored (${shown.join(', ')})` : 'nothing else in it')
  );
}
