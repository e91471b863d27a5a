/**
 * Fetches a trained model's graph and weights and checks that they fit each other before the
 * editor shows anything: a document that does not parse, an invalid graph, or a weights file whose
 * names or shapes differ from the graph's is refused with a message naming the file and the problem.
 * Imported only when a model is picked (it brings the safetensors reader and the state-dict check).
 */
import { analyze } from '../../graph/analyze';
import { parseDocument, type Document } from '../../graph/document';
import { expectedWeights } from '../../graph/weights';
import { checkStateDict } from '../../weights/pytorch';
import { parseSafetensorsHeader } from '../../weights/safetensors';
import type { TrainedPreset } from './index';

/** A picked model, ready to open: its document and its weights' bytes. */
export interface LoadedPreset {
  readonly preset: TrainedPreset;
  readonly doc: Document;
  readonly weights: Uint8Array;
}

/** The bytes at a URL (the browser's `fetch` by default; tests read files). */
export type FetchBytes = (url: string) => Promise<Uint8Array>;

export const fetchBytes: FetchBytes = async (url) => {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  return new Uint8Array(await res.arrayBuffer());
};

/** Where a URL's file name is (for messages): its last path segment. */
const fileName = (url: string): string => url.split(/[?#]/)[0].split('/').pop() || url;

export async function loadTrainedPreset(preset: TrainedPreset, get: FetchBytes = fetchBytes): Promise<LoadedPreset> {
  const fetchOne = async (url: string, what: string): Promise<Uint8Array> => {
    try {
      return await get(url);
    } catch (e) {
      throw new Error(`${preset.label}: could not load its ${what} (${fileName(url)}): ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const [graphBytes, weights] = await Promise.all([fetchOne(preset.graphUrl, 'graph'), fetchOne(preset.weightsUrl, 'weights')]);
  const doc = parseDocument(new TextDecoder().decode(graphBytes), `${preset.label} graph`);
  const a = analyze(doc.graph);
  if (!a.ok) {
    const errors = a.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    throw new Error(`${preset.label}: its graph has errors:\n${errors.join('\n')}`);
  }
  // Names and shapes only (the values are decoded by the run panel when it makes the weights).
  const source = `${preset.label} weights`;
  const header = parseSafetensorsHeader(weights.length, (offset, length) => weights.subarray(offset, offset + length), { source });
  checkStateDict(expectedWeights(a), new Map(header.entries.map((e) => [e.name, e.shape])), source);
  return { preset, doc, weights };
}
