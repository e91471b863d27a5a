import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '@xyflow/react/dist/style.css';
import './styles.css';
import { App } from './App';
import { defaultDoc, EditorStore } from './store';
import { Autosaver, browserChannel, newTabId, openBrowserBackend, restoreAutosave, type SyncStorage } from './autosave';
import { AutosaveContext } from './AutosaveNotice';

function storage(): SyncStorage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
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
  const restored = await restoreAutosave({ backend, sync, tab, note, fallback: defaultDoc });
  const store = new EditorStore(restored.doc);
  const autosaver = new Autosaver(store, { backend, sync, tab, restored, channel: browserChannel() });
  autosaver.start();
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
        <App store={store} />
      </AutosaveContext.Provider>
    </StrictMode>,
  );
}

const el = document.getElementById('root');
if (el) void boot(el);
