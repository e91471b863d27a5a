/**
 * A multi-file export (the PyTorch project) as one `.zip` for the code panel's Download, made with
 * fflate. Deterministic: entries in the export's order under one folder, each with the same fixed
 * date (ZIP's earliest, 1980-01-01), so the same graph gives the same bytes.
 */
import { zipSync, strToU8 } from 'fflate';
import type { ExportFile } from '../codegen/targets';

const ZIP_EPOCH = new Date(1980, 0, 1, 0, 0, 0);

/** `folder/path` for every file (folder: a plain name, e.g. `Model-pytorch`; other characters become `_`). */
export function zipFiles(files: readonly ExportFile[], folder: string): Uint8Array<ArrayBuffer> {
  const safe = folder.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+/, '') || 'export';
  const entries: Record<string, [Uint8Array, { mtime: Date }]> = {};
  for (const f of files) entries[`${safe}/${f.path}`] = [strToU8(f.text), { mtime: ZIP_EPOCH }];
  return new Uint8Array(zipSync(entries, { level: 6 })); // an ArrayBuffer-backed copy: what Blob takes
}
