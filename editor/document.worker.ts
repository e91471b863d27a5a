/**
 * Reads and parses document and workspace files off the main thread: a big document's JSON and its
 * validation take long enough (a second at the size limit) to stall the page if done there.
 */
import { DocumentError, parseDocument, type Document } from '../graph/document';
import { parseWorkspaceFile, type WorkspaceFile } from '../graph/workspace';

export interface DocumentRequest {
  readonly id: number;
  readonly file: Blob;
  readonly source: string;
  /** `document`: a single-graph file only; `workspace`: a workspace or a single-graph file. */
  readonly kind: 'document' | 'workspace';
}

export type DocumentResponse =
  | { readonly id: number; readonly ok: true; readonly doc: Document }
  | { readonly id: number; readonly ok: true; readonly workspace: WorkspaceFile }
  | { readonly id: number; readonly ok: false; readonly documentError: boolean; readonly message: string };

const post = (r: DocumentResponse) => (self as unknown as Worker).postMessage(r);

self.addEventListener('message', (e: MessageEvent<DocumentRequest>) => {
  const { id, file, source, kind } = e.data;
  void file.text().then(
    (text) => {
      try {
        post(kind === 'workspace' ? { id, ok: true, workspace: parseWorkspaceFile(text, source) } : { id, ok: true, doc: parseDocument(text, source) });
      } catch (err) {
        post({ id, ok: false, documentError: err instanceof DocumentError, message: err instanceof Error ? err.message : String(err) });
      }
    },
    (err: unknown) => post({ id, ok: false, documentError: true, message: `${source} could not be read: ${err instanceof Error ? err.message : String(err)}` }),
  );
});
