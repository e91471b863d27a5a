/**
 * "My blocks" kept in the browser: a block library (`unet-studio-blocks` file format, see
 * graph/definitions-format.ts) under one localStorage key. Framework-free; the palette reads it.
 * An unreadable stored library is kept aside under a second key rather than overwritten.
 */
import type { BlockDefinition, Graph } from '../graph/model';
import { DefinitionError, parseLibrary, serializeLibrary } from '../graph/definitions';
import { sameStructure } from '../graph/definitions';

export const MY_BLOCKS_KEY = 'unet-studio.my-blocks';
const UNREADABLE_KEY = 'unet-studio.my-blocks.unreadable';

/** What a storage must offer (localStorage, or a Map-backed stand-in in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

function storage(): KeyValueStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // storage disabled (privacy settings): My blocks lives for the session only
  }
}

/** The stored library (empty when none, or unreadable: that text is moved aside). */
export function loadMyBlocks(s: KeyValueStorage | null = storage()): BlockDefinition[] {
  const text = s?.getItem(MY_BLOCKS_KEY);
  if (!s || !text) return [];
  try {
    return parseLibrary(text, 'the stored block library');
  } catch (e) {
    if (!(e instanceof DefinitionError)) throw e;
    s.setItem(UNREADABLE_KEY, text);
    s.setItem(MY_BLOCKS_KEY, serializeLibrary([]));
    return [];
  }
}

export function saveMyBlocks(defs: readonly BlockDefinition[], s: KeyValueStorage | null = storage()): void {
  s?.setItem(MY_BLOCKS_KEY, serializeLibrary(defs));
}

/**
 * Adds definitions to a library: one with a new id is appended; one whose id is there with the same
 * structure replaces it (a new label); one whose id is there with other content replaces it too (the
 * latest save wins: the library holds each block's newest definition).
 */
export function mergeDefinitions(into: readonly BlockDefinition[], add: readonly BlockDefinition[]): BlockDefinition[] {
  const out = [...into];
  for (const d of add) {
    const i = out.findIndex((x) => x.id === d.id);
    if (i === -1) out.push(d);
    else out[i] = d;
  }
  return out;
}

/** What the palette lists: the stored library, then the open document's definitions it lacks. */
export function listedBlocks(stored: readonly BlockDefinition[], graph: Graph): { definition: BlockDefinition; inDocument: boolean }[] {
  const doc = graph.definitions ?? [];
  const out = stored.map((d) => ({ definition: d, inDocument: doc.some((x) => x.id === d.id) }));
  for (const d of doc) {
    if (!stored.some((x) => x.id === d.id && sameStructure(x, d))) {
      if (stored.some((x) => x.id === d.id)) out.splice(out.findIndex((x) => x.definition.id === d.id), 1);
      out.push({ definition: d, inDocument: true });
    }
  }
  return out;
}
