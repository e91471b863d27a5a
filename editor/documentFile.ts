/**
 * Opening a document or workspace file: refused unread when too large, otherwise read and parsed in
 * a worker (`document.worker.ts`), so the page keeps answering while a big one is read. Resolves to
 * the document (or the workspace, with whether the file was a single graph) or rejects with
 * `DocumentError` (a message for the banner).
 */
import { DocumentError, parseDocument, type Document } from '../graph/document';
import { documentSizeProblem } from '../graph/limits';
import { parseWorkspaceFile, type WorkspaceFile } from '../graph/workspace';
import type { DocumentRequest, DocumentResponse } from './document.worker';

type Kind = DocumentRequest['kind'];
type Result = Document | WorkspaceFile;

let worker: Worker | null = null;
let next = 0;
const waiting = new Map<number, { readonly file: Blob; readonly source: string; readonly kind: Kind; resolve: (r: Result) => void; reject: (e: Error) => void }>();

/** Reads and parses on this thread: where no worker can be had. */
async function parseHere(file: Blob, source: string, kind: Kind): Promise<Result> {
  const text = await file.text();
  return kind === 'workspace' ? parseWorkspaceFile(text, source) : parseDocument(text, source);
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
    if (r.ok) w.resolve('workspace' in r ? r.workspace : r.doc);
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
    for (const w of pending) parseHere(w.file, w.source, w.kind).then(w.resolve, w.reject);
  });
  return worker;
}

function read(file: Blob, source: string, kind: Kind): Promise<Result> {
  const tooBig = documentSizeProblem({ bytes: file.size }, source);
  if (tooBig) return Promise.reject(new DocumentError(tooBig));
  const w = documentWorker();
  if (!w) return parseHere(file, source, kind);
  const id = ++next;
  return new Promise<Result>((resolve, reject) => {
    waiting.set(id, { file, source, kind, resolve, reject });
    const req: DocumentRequest = { id, file, source, kind };
    w.postMessage(req);
  });
}

/** A single-graph document file. */
export async function readDocumentFile(file: Blob, source: string): Promise<Document> {
  return (await read(file, source, 'document')) as Document;
}

/** A workspace file, or a single-graph document file as a workspace of one (`fromDocument`). */
export async function readWorkspaceFile(file: Blob, source: string): Promise<WorkspaceFile> {
  return (await read(file, source, 'workspace')) as WorkspaceFile;
}
