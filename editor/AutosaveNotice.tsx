/**
 * What autosave has to tell the user: a failed write (with "Save to file"), a change made in another
 * tab (with the choices), documents kept aside (an unreadable autosave, unsaved work from a closed
 * tab: download, dismiss), and a small status line. The logic lives in `./autosave`.
 */
import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Autosaver, AutosaveView, KeptCopy } from './autosave';
import { downloadText } from './CodePanel';

/** What the notice uses of an `Autosaver` (of a document or of the workspace: the same controls). */
export type AutosaveControls = Pick<Autosaver<unknown>, 'subscribe' | 'getView' | 'saveToFile' | 'loadTheirs' | 'keepMine' | 'dismissKept' | 'dismissNote'>;

export const AutosaveContext = createContext<AutosaveControls | null>(null);

const time = (t: number) => new Date(t).toLocaleTimeString();

function keptName(k: KeptCopy): string {
  const stamp = new Date(k.time).toISOString().replace(/[:.]/g, '-');
  return `${k.reason === 'unreadable' ? 'unreadable-autosave' : 'unsaved-changes'}-${stamp}.json`;
}

function Kept({ autosaver, k }: { autosaver: AutosaveControls; k: KeptCopy }) {
  const where = k.stored ? 'It is kept in browser storage, unchanged.' : 'It could not be stored aside; it is kept in this page only: download it.';
  return (
    <div className="banner autosave-banner" role="alert" data-testid="autosave-kept" data-reason={k.reason}>
      <div className="autosave-text">
        {k.reason === 'unreadable' ? (
          <>
            <b>The autosaved graph could not be read, so the editor started from the default template.</b> {where}
          </>
        ) : (
          <>
            <b>Changes from another tab were not autosaved and were kept aside.</b> {where}
          </>
        )}
        <pre className="autosave-why">{k.why}</pre>
      </div>
      <button onClick={() => downloadText(k.text, keptName(k), 'application/json')} data-testid="kept-download">
        {k.reason === 'unreadable' ? 'Download the unreadable autosave' : 'Download them'}
      </button>
      <button className="icon" onClick={() => void autosaver.dismissKept(k.key)} aria-label="Dismiss" data-testid="kept-dismiss">
        ×
      </button>
    </div>
  );
}

function statusText(v: AutosaveView): string {
  switch (v.status) {
    case 'saved':
      return v.savedAt === null ? 'Autosave on' : `Autosaved ${time(v.savedAt)}`;
    case 'pending':
    case 'saving':
      return 'Autosaving…';
    case 'failed':
      return 'Autosave failed';
    case 'conflict':
      return 'Autosave paused (another tab)';
    case 'paused':
      return 'Autosave off';
  }
}

export function AutosaveNotice() {
  const autosaver = useContext(AutosaveContext);
  if (!autosaver) return null;
  return <Notice autosaver={autosaver} />;
}

function Notice({ autosaver }: { autosaver: AutosaveControls }) {
  const v = useSyncExternalStore(autosaver.subscribe, autosaver.getView);
  const saveToFile = () => {
    const f = autosaver.saveToFile();
    downloadText(f.text, f.name, 'application/json');
  };
  const savedNote = v.savedToFileAt !== null ? <span className="autosave-ok"> Saved to file at {time(v.savedToFileAt)}.</span> : null;
  return (
    <>
      {(v.status === 'failed' || v.status === 'paused') && (
        <div className="banner autosave-banner" role="alert" data-testid="autosave-failed">
          <div className="autosave-text">
            <b>{v.status === 'failed' ? 'Autosave failed' : 'Autosave is off'}:</b> {v.error}. Your latest changes are only in this tab; save them to a
            file to keep them.{savedNote}
          </div>
          <button className="primary" onClick={saveToFile} data-testid="autosave-save-file">
            Save to file
          </button>
        </div>
      )}
      {v.status === 'conflict' && v.theirs && (
        <div className="banner autosave-banner" role="alert" data-testid="autosave-conflict">
          <div className="autosave-text">
            <b>This document was changed in another tab</b> (autosaved at {time(v.theirs.time)}). Autosave is paused here so that neither tab's work
            is overwritten without your say.{savedNote}
          </div>
          <button onClick={() => void autosaver.loadTheirs()} title="Show the other tab's version here (Undo brings this tab's back)" data-testid="conflict-load-theirs">
            Load theirs
          </button>
          <button onClick={() => void autosaver.keepMine()} title="Autosave this tab's version over the other tab's" data-testid="conflict-keep-mine">
            Keep mine and overwrite
          </button>
          <button className="primary" onClick={saveToFile} data-testid="conflict-save-file">
            Save mine to file
          </button>
        </div>
      )}
      {v.kept.map((k) => (
        <Kept key={k.key} autosaver={autosaver} k={k} />
      ))}
      {v.note && (
        <div className="banner autosave-banner autosave-info" role="status" data-testid="autosave-note">
          <div className="autosave-text">{v.note}</div>
          <button className="icon" onClick={() => autosaver.dismissNote()} aria-label="Dismiss" data-testid="autosave-note-dismiss">
            ×
          </button>
        </div>
      )}
      <span className={`autosave-status status-${v.status}`} data-testid="autosave-status" data-status={v.status} title={v.error ?? undefined}>
        {statusText(v)}
      </span>
    </>
  );
}
