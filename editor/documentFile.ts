/**
 * Opening a document file: refused unread when too large, otherwise read and parsed in a worker
 * (`document.worker.ts`), so the page keeps answering while a big one is read. Resolves to the
 * document or rejects with `DocumentError` (a message for the banner).
 */
import { DocumentError, parseDocument, type Document } from '../graph/document';
import { documentSizeProblem } from '../graph/limits';
import type { DocumentRequest, DocumentResponse } from './document.worker';

let worker: Worker | null = null;
let next = 0;
const waiting = new Map<number, { readonly file: Blob; readonly source: string; resolve: (d: Document) => void; reject: (e: Error) => void }>();

/** Reads and parses on this thread: where no worker can be had. */
async function parseHere(file: Blob, source: string): Promise<Document> {
  return parseDocument(await file.text(), source);
}

function documentWorker(): Worker | null {
  if (worker) return worker;
  if (typeof Worker === 'undefined') return null;
  try {
    worker = new Worker(new URL('./document.worker.ts', import.meta.url), { type: 'module' });
  } catch {
    return null;
  }
  worker.addEventListener('message', (e: MessageEvent<DocumentResponse>) => {
    const r = e.data;
    const w = waiting.get(r.id);
    if (!w) return;
    waiting.delete(r.id);
    if (r.ok) w.resolve(r.doc);
    // Anything the reader could not do is a message for the banner, never a silent failure.
    else w.reject(new DocumentError(r.documentError ? r.message : `${w.source} could not be read: ${r.message}`));
  });
  worker.addEventListener('error', (e) => {
    // The worker could not start: what it was asked is answered here instead (as without workers).
    e.preventDefault();
    const pending = [...waiting.values()];
    waiting.clear();
    worker?.terminate();
    worker = null;
    for (const w of pending) parseHere(w.file, w.source).then(w.resolve, w.reject);
  });
  return worker;
}

export async function readDocumentFile(file: Blob, source: string): Promise<Document> {
  const tooBig = documentSizeProblem({ bytes: file.size }, source);
  if (tooBig) throw new DocumentError(tooBig);
  const w = documentWorker();
  if (!w) return parseHere(file, source);
  const id = ++next;
  return new Promise<Document>((resolve, reject) => {
    waiting.set(id, { file, source, resolve, reject });
    const req: DocumentRequest = { id, file, source };
    w.postMessage(req);
  });
}
