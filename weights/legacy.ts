/**
 * Old names of weights that loaders accept in place of today's: checkpoints written before diffusers
 * renamed its attention layers call `to_q`/`to_k`/`to_v`/`to_out.0` `query`/`key`/`value`/`proj_attn`
 * (diffusers renames them on load: `ModelMixin._convert_deprecated_attention_blocks`). The check
 * stays strict: a file key is renamed only when the graph expects the new name, the file lacks it,
 * and the graph does not also expect the old one.
 */

/** Legacy sub-key → today's, for the last segments of a key (`….query.weight` → `….to_q.weight`). */
const LEGACY_SUFFIXES: readonly (readonly [string, string])[] = [
  ['query', 'to_q'],
  ['key', 'to_k'],
  ['value', 'to_v'],
  ['proj_attn', 'to_out.0'],
];

/**
 * The renames that make `fileKeys` match `expected`: file key → the expected key it stands for.
 * Empty when nothing is to rename (the usual case), so loaders can apply it unconditionally.
 */
export function legacyKeyRenames(expected: Iterable<string>, fileKeys: Iterable<string>): Map<string, string> {
  const wanted = new Set(expected);
  const present = new Set(fileKeys);
  const renames = new Map<string, string>();
  for (const key of present) {
    if (wanted.has(key)) continue;
    const m = /^(.*\.)?([^.]+)\.(weight|bias)$/.exec(key);
    if (!m) continue;
    const [, prefix = '', name, kind] = m;
    const now = LEGACY_SUFFIXES.find(([old]) => old === name)?.[1];
    if (now === undefined) continue;
    const target = `${prefix}${now}.${kind}`;
    if (wanted.has(target) && !present.has(target)) renames.set(key, target);
  }
  return renames;
}

/** `entries` (a file's tensors or shapes by key) under the graph's names: legacy keys renamed, everything else as it is. */
export function withLegacyNames<V>(expected: Iterable<string>, entries: ReadonlyMap<string, V>): Map<string, V> {
  const renames = legacyKeyRenames(expected, entries.keys());
  if (renames.size === 0) return new Map(entries);
  return new Map([...entries].map(([k, v]) => [renames.get(k) ?? k, v]));
}
