/** Reads the generator's source texts from disk (Node). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SOURCE_FILES, type SourceTexts } from './sources';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

let cached: SourceTexts | null = null;

export function readSources(): SourceTexts {
  if (cached) return cached;
  const texts: Record<string, string> = {};
  for (const f of SOURCE_FILES) texts[f] = readFileSync(`${REPO_ROOT}${f}`, 'utf8');
  cached = texts as SourceTexts;
  return cached;
}
