import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@xyflow/react/dist/style.css';
import './styles.css';
import { App } from './App';
import { defaultDoc } from './store';
import { Autosaver, browserChannel, newTabId, openBrowserBackend, restoreAutosave, type SyncStorage } from './autosave';
import { singleWorkspace, toEditorWorkspace, WorkspaceError, workspaceCodec, WorkspaceStore, type EditorWorkspace } from './workspaceStore';
import { decodeShareHash, ShareLinkError } from '../graph/share';
import { AutosaveContext } from './AutosaveNotice';

function storage(): SyncStorage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/**
 * Opens a share link in the hash (`#w=…`) as new variants beside the autosaved ones (never over
 * them), or says why it cannot; then removes the hash, so a reload does not add the variants again.
 */
function openSharedLink(workspace: WorkspaceStore): void {
  const hash = window.location.hash;
  let linked;
  try {
    linked = decodeShareHash(hash);
  } catch (e) {
    if (!(e instanceof ShareLinkError)) throw e;
    workspace.setMessage(`${e.message} Your own work is unchanged.`);
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    return;
  }
  if (linked === null) return;
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  try {
    const opened: EditorWorkspace = toEditorWorkspace(linked);
    const n = workspace.addWorkspace(opened).length;
    workspace.setMessage(`Opened the shared design as ${n === 1 ? 'a new variant' : `${n} new variants`} (the tabs on the right); your own work is unchanged in the other tabs.`);
  } catch (e) {
    if (e instanceof WorkspaceError) workspace.setMessage(`The shared design could not be opened: ${e.message}. Your own work is unchanged.`);
    else throw e;
  }
}

/** Restores the autosave (IndexedDB is async), then renders the editor; a loading line meanwhile. */
async function boot(el: HTMLElement): Promise<void> {
  const root = createRoot(el);
  root.render(
    <div className="boot" data-testid="loading">
      Restoring your work…
    </div>,
  );
  const sync = storage();
  const tab = newTabId();
  const { backend, note } = await openBrowserBackend(sync);
  // The workspace; an autosave of the versions before workspaces (one document) comes back as its first variant.
  const restored = await restoreAutosave({ backend, sync, tab, note, fallback: () => singleWorkspace(defaultDoc()), codec: workspaceCodec });
  const workspace = new WorkspaceStore(restored.doc);
  const autosaver = new Autosaver(workspace, { backend, sync, tab, restored, channel: browserChannel(), codec: workspaceCodec });
  autosaver.start();
  // After autosave starts, so the variants a link adds are autosaved with the rest.
  openSharedLink(workspace);
  window.addEventListener('hashchange', () => openSharedLink(workspace));
  // Leaving or hiding the page: a synchronous rescue copy and an immediate write.
  window.addEventListener('pagehide', () => autosaver.onHide());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') autosaver.onHide();
    else void autosaver.onShow();
  });
  window.addEventListener('beforeunload', (e) => {
    if (autosaver.shouldWarnOnLeave()) e.preventDefault();
  });
  root.render(
    <StrictMode>
      <AutosaveContext.Provider value={autosaver}>
        <App workspace={workspace} />
      </AutosaveContext.Provider>
    </StrictMode>,
  );
}

const el = document.getElementById('root');
if (el) void boot(el);
