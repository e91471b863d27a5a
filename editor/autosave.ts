/**
 * Autosave, framework-free: where the editor's document is kept between visits, and how a failure,
 * an unreadable copy or a second tab is told to the user instead of costing them work.
 *
 * Where. The document lives in IndexedDB (through idb-keyval's `createStore`), always, not only
 * once it outgrows localStorage's ~5 MB: one code path and one revision protocol for every size (a
 * document crossing 5 MB mid-session would otherwise move between two stores that could then
 * disagree about which copy is newest); IndexedDB's readwrite transactions are serialised across
 * tabs, which makes "check the revision, then write" atomic (localStorage gives no such guarantee
 * between tabs); and writing megabytes to localStorage blocks the page. localStorage keeps only a
 * small synchronous *rescue* copy, written when the page is hidden or unloaded (an IndexedDB write
 * started while a page unloads may never commit), and is the fallback when IndexedDB cannot be
 * opened at all.
 *
 * The protocol. The stored record carries a revision and the id of the tab that wrote it. A tab
 * writes revision r+1 only if the stored revision is still r, the one it last read or wrote
 * (`AutosaveBackend.write` checks and writes in one transaction); otherwise another tab wrote since,
 * and this tab stops autosaving and says so ("This document was changed in another tab"), with the
 * choice to load theirs (undoable), keep its own (overwriting, deliberately) or save its own to a
 * file. Every successful write is announced on a BroadcastChannel so an idle tab learns of it at
 * once, not at its next edit. A tab's writes are serialised (one at a time, always the latest
 * document: no out-of-order writes) and debounced.
 *
 * Nothing is dropped silently: a stored document this version cannot read is copied aside under its
 * own key (never overwritten) before anything may be written over it, and offered for download; a
 * rescue copy that conflicts with a newer autosave is kept aside the same way.
 */
import { createStore, promisifyRequest } from 'idb-keyval';
import { DocumentError, parseDocument, serializeDocument } from '../graph/document';
import type { Doc } from './store';

/**
 * What autosave stores and how: the editor's workspace (`./workspaceStore`), or a single document
 * (the default, and the unit tests'). `parse` throws `DocumentError` for text it cannot read.
 */
export interface AutosaveCodec<T> {
  serialize(value: T): string;
  parse(text: string, source: string): T;
  /** The file name "Save to file" offers. */
  fileName(value: T): string;
}

/** A single document, in the document file format. */
export const documentCodec: AutosaveCodec<Doc> = {
  serialize: (doc) => serializeDocument(doc.graph, doc.layout, undefined, doc.collapsed),
  parse: (text, source) => {
    const d = parseDocument(text, source);
    return { graph: d.graph, layout: d.layout, collapsed: d.collapsed ?? [] };
  },
  fileName: (doc) => `${doc.graph.name || 'graph'}.json`,
};

/** The codec for T when none is given: documents (T defaults to Doc; a caller with another T passes its codec). */
function codecOr<T>(codec: AutosaveCodec<T> | undefined): AutosaveCodec<T> {
  // Unchecked only where a caller names another T without a codec, which every caller here avoids.
  return codec ?? (documentCodec as unknown as AutosaveCodec<T>);
}

/** The autosave of the app's first versions: the document text in localStorage. Read once, then removed. */
export const LEGACY_KEY = 'unet-studio:autosave';
/** localStorage keys of rescue copies, one per tab: `unet-studio:rescue:<tab>`. */
export const RESCUE_PREFIX = 'unet-studio:rescue:';
/** IndexedDB database and object store. */
export const IDB_NAME = 'unet-studio';
export const IDB_STORE = 'autosave';
export const META_KEY = 'meta';
export const DOC_KEY = 'doc';
export const ASIDE_PREFIX = 'aside:';
/** Rescue copies larger than this (UTF-16 code units) are not written: localStorage holds ~5M in all. */
export const RESCUE_LIMIT = 1_000_000;

/** Which revision is stored, who wrote it and when. */
export interface SavedMeta {
  readonly rev: number;
  readonly tab: string;
  readonly time: number;
}
export interface SavedRecord extends SavedMeta {
  readonly text: string;
}
export type WriteResult = { readonly ok: true } | { readonly ok: false; readonly current: SavedMeta };

/** A document kept aside: an autosave this version could not read, or unsaved work from a closed tab. */
export interface AsideEntry {
  readonly key: string;
  readonly reason: 'unreadable' | 'unsaved';
  /** Why it was kept aside (the DocumentError's message, or what happened to the tab). */
  readonly why: string;
  readonly time: number;
  /** The stored text, exactly as it was found. */
  readonly text: string;
  readonly dismissed: boolean;
}
/** An entry to offer; `stored: false` when it could not be written aside and lives only in this page. */
export interface KeptCopy extends AsideEntry {
  readonly stored: boolean;
}

/** Where autosaves are kept. Every method may reject (storage full, unavailable). */
export interface AutosaveBackend {
  readonly name: string;
  /** The stored meta and document as found (the document may be anything: storage can hold garbage). */
  read(): Promise<{ readonly meta: SavedMeta | null; readonly doc: unknown }>;
  readMeta(): Promise<SavedMeta | null>;
  /**
   * Writes `record` if the stored revision is `expected` (or nothing is stored), atomically;
   * otherwise writes nothing and returns what is stored.
   */
  write(expected: number, record: SavedRecord): Promise<WriteResult>;
  /** Stores an entry under its key; rejects (and writes nothing) if the key is taken. */
  addAside(entry: AsideEntry): Promise<void>;
  listAside(): Promise<AsideEntry[]>;
  dismissAside(key: string): Promise<void>;
}

/** The synchronous storage for rescue copies (window.localStorage). */
export interface SyncStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  key(index: number): string | null;
  readonly length: number;
}

/** A message between tabs: "I wrote revision `rev`". */
export interface SavedMessage {
  readonly kind: 'saved';
  readonly rev: number;
  readonly tab: string;
  readonly time: number;
}
export interface AutosaveChannel {
  post(message: SavedMessage): void;
  subscribe(fn: (message: unknown) => void): () => void;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function errorName(e: unknown): string {
  return typeof e === 'object' && e !== null && 'name' in e && typeof e.name === 'string' ? e.name : '';
}
function errorMessage(e: unknown): string {
  return typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string' ? e.message : String(e);
}

/** "browser storage is full (…)" / "… is unavailable (…)": why a write failed, for the banner. */
export function describeStorageError(e: unknown): string {
  const name = errorName(e);
  const message = errorMessage(e);
  const detail = name && message && message !== name ? `${name}: ${message}` : name || message;
  if (name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED' || /quota/i.test(message)) return `browser storage is full (${detail})`;
  if (['SecurityError', 'InvalidStateError', 'UnknownError', 'NotFoundError', 'VersionError', 'NotAllowedError'].includes(name) || /indexeddb|not available|unavailable/i.test(message)) {
    return `browser storage is unavailable (${detail})`;
  }
  return `browser storage refused the write (${detail})`;
}

export function asMeta(v: unknown): SavedMeta | null {
  if (typeof v !== 'object' || v === null) return null;
  const m = v as { rev?: unknown; tab?: unknown; time?: unknown };
  if (typeof m.rev !== 'number' || !Number.isInteger(m.rev) || m.rev < 0) return null;
  return { rev: m.rev, tab: typeof m.tab === 'string' ? m.tab : '', time: typeof m.time === 'number' ? m.time : 0 };
}

function asAside(v: unknown): AsideEntry | null {
  if (typeof v !== 'object' || v === null) return null;
  const a = v as Partial<Record<keyof AsideEntry, unknown>>;
  if (typeof a.key !== 'string' || typeof a.text !== 'string') return null;
  return {
    key: a.key,
    reason: a.reason === 'unsaved' ? 'unsaved' : 'unreadable',
    why: typeof a.why === 'string' ? a.why : '',
    time: typeof a.time === 'number' ? a.time : 0,
    text: a.text,
    dismissed: a.dismissed === true,
  };
}

/** The stored document as text, whatever type it was stored as; null when nothing is stored. */
function storedText(doc: unknown): string | null {
  if (doc === undefined || doc === null) return null;
  if (typeof doc === 'string') return doc;
  try {
    return JSON.stringify(doc) ?? String(doc);
  } catch {
    return String(doc);
  }
}

function safeJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

let asideCounter = 0;
function asideKey(now: number, tab: string): string {
  return `${ASIDE_PREFIX}${String(now).padStart(15, '0')}:${tab}:${asideCounter++}`;
}

// ---------------------------------------------------------------------------------------------
// Backends

/** IndexedDB through idb-keyval's store: meta and document written in one readwrite transaction. */
export function indexedDbBackend(dbName = IDB_NAME, storeName = IDB_STORE): AutosaveBackend {
  const use = createStore(dbName, storeName);
  const asideRange = () => IDBKeyRange.bound(ASIDE_PREFIX, `${ASIDE_PREFIX}\uffff`);
  return {
    name: 'IndexedDB',
    read: () =>
      use('readonly', async (s) => {
        const [meta, doc] = await Promise.all([promisifyRequest(s.get(META_KEY)), promisifyRequest(s.get(DOC_KEY))]);
        return { meta: asMeta(meta), doc: doc as unknown };
      }),
    readMeta: () => use('readonly', async (s) => asMeta(await promisifyRequest(s.get(META_KEY)))),
    write: (expected, record) =>
      use(
        'readwrite',
        (s) =>
          new Promise<WriteResult>((resolve, reject) => {
            const req = s.get(META_KEY);
            req.onerror = () => reject(req.error);
            req.onsuccess = () => {
              const current = asMeta(req.result);
              if (current && current.rev !== expected) {
                resolve({ ok: false, current });
                return;
              }
              try {
                s.put(record.text, DOC_KEY);
                s.put({ rev: record.rev, tab: record.tab, time: record.time }, META_KEY);
              } catch (e) {
                try {
                  s.transaction.abort();
                } catch {
                  // already finished
                }
                reject(e);
                return;
              }
              // Resolves when the transaction commits; rejects when it aborts (e.g. quota).
              promisifyRequest(s.transaction).then(() => resolve({ ok: true }), reject);
            };
          }),
      ),
    addAside: (entry) =>
      use('readwrite', (s) => {
        s.add(entry, entry.key); // `add` never overwrites: a taken key aborts the transaction
        return promisifyRequest(s.transaction);
      }),
    listAside: () =>
      use('readonly', async (s) => {
        const all = await promisifyRequest(s.getAll(asideRange()));
        return all.map(asAside).filter((a): a is AsideEntry => a !== null);
      }),
    dismissAside: (key) =>
      use(
        'readwrite',
        (s) =>
          new Promise<void>((resolve, reject) => {
            const req = s.get(key);
            req.onerror = () => reject(req.error);
            req.onsuccess = () => {
              const a = asAside(req.result);
              if (!a) {
                resolve();
                return;
              }
              try {
                s.put({ ...a, dismissed: true }, key);
              } catch (e) {
                reject(e);
                return;
              }
              promisifyRequest(s.transaction).then(() => resolve(), reject);
            };
          }),
      ),
  };
}

/**
 * A backend over a synchronous key-value storage: localStorage when IndexedDB cannot be opened,
 * and the fake storage of the unit tests. Meta and text live in one key, so a write is one
 * `setItem`: all or nothing. (Between tabs localStorage has no transactions; this is the fallback.)
 */
export function keyValueBackend(storage: SyncStorage, prefix = 'unet-studio:kv:'): AutosaveBackend {
  const RECORD = `${prefix}record`;
  const ASIDE = `${prefix}${ASIDE_PREFIX}`;
  const readRecord = () => {
    const raw = storage.getItem(RECORD);
    const v = safeJson(raw) as { text?: unknown } | null;
    return { meta: asMeta(v), doc: v && typeof v === 'object' && 'text' in v ? v.text : raw === null ? undefined : raw };
  };
  return {
    name: 'localStorage',
    read: async () => readRecord(),
    readMeta: async () => readRecord().meta,
    write: async (expected, record) => {
      const { meta } = readRecord();
      if (meta && meta.rev !== expected) return { ok: false, current: meta };
      storage.setItem(RECORD, JSON.stringify(record));
      return { ok: true };
    },
    addAside: async (entry) => {
      const key = `${prefix}${entry.key}`;
      if (storage.getItem(key) !== null) throw new Error(`${entry.key} is taken`);
      storage.setItem(key, JSON.stringify(entry));
    },
    listAside: async () => {
      const out: AsideEntry[] = [];
      for (let i = 0; i < storage.length; i++) {
        const k = storage.key(i);
        if (k === null || !k.startsWith(ASIDE)) continue;
        const a = asAside(safeJson(storage.getItem(k)));
        if (a) out.push(a);
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : 1));
    },
    dismissAside: async (key) => {
      const k = `${prefix}${key}`;
      const a = asAside(safeJson(storage.getItem(k)));
      if (a) storage.setItem(k, JSON.stringify({ ...a, dismissed: true }));
    },
  };
}

/** A backend that refuses everything with one reason (no storage at all). */
export function unavailableBackend(reason: string): AutosaveBackend {
  const fail = () => Promise.reject(new DOMException(reason, 'InvalidStateError'));
  return { name: 'none', read: fail, readMeta: fail, write: fail, addAside: fail, listAside: fail, dismissAside: fail };
}

// ---------------------------------------------------------------------------------------------
// Startup

export interface Restored<T = Doc> {
  /** The document (or workspace) to start with. */
  readonly doc: T;
  /** The stored revision `doc` derives from (0: nothing stored). */
  readonly rev: number;
  /** True when `doc` is not what the store holds (a rescue copy): write it soon. */
  readonly dirty: boolean;
  /** Sync-storage keys whose content `doc` contains: removed after its first successful write. */
  readonly adopted: readonly string[];
  /** Kept-aside documents the user has not dismissed. */
  readonly kept: readonly KeptCopy[];
  /** Why autosave must not write in this session (something unreadable could not be kept aside). */
  readonly paused: string | null;
  /** A line for the user about where autosave lives, when it is not IndexedDB. */
  readonly note: string | null;
}

interface Rescue {
  readonly key: string;
  readonly base: number;
  readonly tab: string;
  readonly time: number;
  readonly text: string;
}

function readRescues(sync: SyncStorage): { rescues: Rescue[]; garbage: { key: string; text: string }[] } {
  const rescues: Rescue[] = [];
  const garbage: { key: string; text: string }[] = [];
  const keys: string[] = [];
  for (let i = 0; i < sync.length; i++) {
    const k = sync.key(i);
    if (k !== null && k.startsWith(RESCUE_PREFIX)) keys.push(k);
  }
  for (const key of keys) {
    const raw = sync.getItem(key);
    if (raw === null) continue;
    const v = safeJson(raw) as Partial<Record<keyof Rescue, unknown>> | null;
    if (v && typeof v === 'object' && typeof v.text === 'string' && typeof v.base === 'number') {
      rescues.push({ key, base: v.base, tab: typeof v.tab === 'string' ? v.tab : '', time: typeof v.time === 'number' ? v.time : 0, text: v.text });
    } else {
      garbage.push({ key, text: raw });
    }
  }
  return { rescues, garbage };
}

function tryParse<T>(codec: AutosaveCodec<T>, text: string, source: string): T | DocumentError {
  try {
    return codec.parse(text, source);
  } catch (e) {
    if (e instanceof DocumentError) return e;
    throw e;
  }
}

/**
 * Reads what is stored and decides what the editor starts with. Never throws: whatever cannot be
 * read is kept aside (or, if even that fails, kept in memory with autosave paused) and reported.
 */
export async function restoreAutosave<T = Doc>(opts: {
  readonly backend: AutosaveBackend;
  readonly sync: SyncStorage | null;
  readonly fallback: () => T;
  /** How the stored text is read (default: a single document). */
  readonly codec?: AutosaveCodec<T>;
  readonly tab: string;
  readonly note?: string | null;
  readonly now?: () => number;
}): Promise<Restored<T>> {
  const { backend, sync, tab } = opts;
  const codec = codecOr(opts.codec);
  const now = opts.now ?? Date.now;
  const kept: KeptCopy[] = [];
  const adopted: string[] = [];
  let paused: string | null = null;
  const syncGet = (k: string) => {
    try {
      return sync?.getItem(k) ?? null;
    } catch {
      return null;
    }
  };
  const syncRemove = (k: string) => {
    try {
      sync?.removeItem(k);
    } catch {
      // the key stays; it is read again next time
    }
  };

  // What is already kept aside: the main record stays unreadable until the next write replaces it,
  // so the same text found again at the next start is not kept (or offered) twice.
  let already: readonly AsideEntry[] | null = null;
  /** Keeps a document aside; true when it is stored. */
  const keepAside = async (reason: AsideEntry['reason'], why: string, text: string): Promise<boolean> => {
    if (already === null) {
      try {
        already = await backend.listAside();
      } catch {
        already = [];
      }
    }
    if (already.some((a) => a.text === text)) return true;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const entry: AsideEntry = { key: asideKey(now(), tab), reason, why, time: now(), text, dismissed: false };
      try {
        await backend.addAside(entry);
        return true;
      } catch (e) {
        lastError = e;
      }
    }
    const entry: KeptCopy = { key: `memory:${asideKey(now(), tab)}`, reason, why, time: now(), text, dismissed: false, stored: false };
    kept.push(entry);
    paused ??= `the ${reason === 'unreadable' ? 'unreadable autosave' : 'unsaved copy'} could not be kept aside (${describeStorageError(lastError)}), so autosave is off in this tab rather than write over it`;
    return false;
  };

  // 1. The stored record (or the first versions' localStorage autosave).
  let meta: SavedMeta | null = null;
  let raw: string | null = null;
  let fromLegacy = false;
  try {
    const stored = await backend.read();
    meta = stored.meta;
    raw = storedText(stored.doc);
  } catch (e) {
    paused = `the autosave could not be read (${describeStorageError(e)}), so autosave is off in this tab rather than write over it`;
  }
  if (paused === null && meta === null && raw === null) {
    raw = syncGet(LEGACY_KEY);
    fromLegacy = raw !== null;
  }

  let doc: T | null = null;
  if (raw !== null) {
    const parsed = tryParse(codec, raw, 'the autosaved graph');
    if (parsed instanceof DocumentError) {
      if ((await keepAside('unreadable', parsed.message, raw)) && fromLegacy) syncRemove(LEGACY_KEY);
    } else {
      doc = parsed;
      if (fromLegacy) adopted.push(LEGACY_KEY);
    }
  }
  const rev = meta?.rev ?? 0;

  // 2. Rescue copies left by tabs that went away before their last write committed.
  let dirty = false;
  if (sync) {
    let found: ReturnType<typeof readRescues> = { rescues: [], garbage: [] };
    try {
      found = readRescues(sync);
    } catch {
      // localStorage unreadable: nothing to rescue
    }
    for (const g of found.garbage) if (await keepAside('unsaved', 'a rescue copy that could not be parsed', g.text)) syncRemove(g.key);
    const continuation = (r: Rescue) => (meta === null ? r.base === 0 : r.base === meta.rev || r.tab === meta.tab);
    const candidates = found.rescues.filter((r) => r.text !== raw).sort((a, b) => b.time - a.time);
    for (const r of found.rescues) if (r.text === raw) syncRemove(r.key); // already stored
    let chosen: Rescue | null = null;
    for (const r of candidates) {
      if (chosen === null && paused === null && continuation(r)) {
        const parsed = tryParse(codec, r.text, 'the rescued graph');
        if (!(parsed instanceof DocumentError)) {
          chosen = r;
          doc = parsed;
          dirty = true;
          adopted.push(r.key);
          continue;
        }
      }
      const when = new Date(r.time).toISOString();
      const why =
        chosen !== null || !continuation(r)
          ? `a tab closed at ${when} had changes that were not autosaved, and another tab autosaved a different version since`
          : `a tab closed at ${when} left changes that could not be read`;
      if (await keepAside('unsaved', why, r.text)) syncRemove(r.key);
    }
  }

  // 3. Everything kept aside that the user has not dismissed.
  try {
    const stored = await backend.listAside();
    kept.unshift(...stored.filter((a) => !a.dismissed).map((a) => ({ ...a, stored: true })));
  } catch {
    // listed next time
  }

  return { doc: doc ?? opts.fallback(), rev, dirty, adopted, kept, paused, note: opts.note ?? null };
}

// ---------------------------------------------------------------------------------------------
// The running autosave

/** What the editor needs from its store (EditorStore has these). */
export interface AutosaveHost<T = Doc> {
  getState(): { readonly doc: T };
  subscribe(fn: () => void): () => void;
  /**
   * Shows `doc` (another tab's), undoably. Returns false when what it then holds is not exactly
   * `doc` (it kept something of its own), so that it is written back.
   */
  replace(doc: T): void | boolean;
}

export type AutosaveStatus = 'saved' | 'pending' | 'saving' | 'failed' | 'conflict' | 'paused';

export interface AutosaveView {
  readonly status: AutosaveStatus;
  /** Why the last write failed, or why autosave is paused. */
  readonly error: string | null;
  /** In a conflict: what the other tab stored. */
  readonly theirs: SavedMeta | null;
  readonly kept: readonly KeptCopy[];
  readonly savedAt: number | null;
  /** When the current document was last saved to a file from the banner. */
  readonly savedToFileAt: number | null;
  /** A one-off line (e.g. why "load theirs" could not load), or where autosave lives. */
  readonly note: string | null;
}

export interface AutosaverOptions<T = Doc> {
  readonly backend: AutosaveBackend;
  /** How the host's value is written and read (default: a single document). */
  readonly codec?: AutosaveCodec<T>;
  readonly sync: SyncStorage | null;
  readonly channel: AutosaveChannel | null;
  readonly tab: string;
  readonly restored: Restored<T>;
  /** Quiet time after an edit before writing. */
  readonly debounceMs?: number;
  /** The longest a stream of edits delays a write. */
  readonly maxWaitMs?: number;
  readonly rescueLimit?: number;
  readonly now?: () => number;
}

export class Autosaver<T = Doc> {
  private readonly host: AutosaveHost<T>;
  private readonly codec: AutosaveCodec<T>;
  private readonly backend: AutosaveBackend;
  private readonly sync: SyncStorage | null;
  private readonly channel: AutosaveChannel | null;
  readonly tab: string;
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly rescueLimit: number;
  private readonly now: () => number;

  /** The document known to equal stored revision `rev` (null: none, write the current one). */
  private committed: T | null;
  private rev: number;
  /** Bumped on every document change; a write remembers the seq it wrote. */
  private seq = 0;
  private lastDoc: T;
  private adopting = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstPendingAt: number | null = null;
  private chain: Promise<void> = Promise.resolve();
  private writing = false;
  private failure: string | null = null;
  private paused: string | null;
  private theirs: SavedMeta | null = null;
  private kept: KeptCopy[];
  private adopted: string[];
  private rescueSeq: number | null = null;
  private fileDoc: T | null = null;
  private savedAt: number | null = null;
  private savedToFileAt: number | null = null;
  private note: string | null;
  /** The last document serialised, and its text (a write, a rescue copy and a file share it). */
  private textCache: { readonly doc: T; readonly text: string } | null = null;
  private view: AutosaveView;
  private readonly listeners = new Set<() => void>();
  private readonly disposers: (() => void)[] = [];

  constructor(host: AutosaveHost<T>, opts: AutosaverOptions<T>) {
    this.host = host;
    this.codec = codecOr(opts.codec);
    this.backend = opts.backend;
    this.sync = opts.sync;
    this.channel = opts.channel;
    this.tab = opts.tab;
    this.debounceMs = opts.debounceMs ?? 300;
    this.maxWaitMs = opts.maxWaitMs ?? 2000;
    this.rescueLimit = opts.rescueLimit ?? RESCUE_LIMIT;
    this.now = opts.now ?? Date.now;
    const r = opts.restored;
    this.lastDoc = host.getState().doc;
    this.committed = r.dirty ? null : this.lastDoc;
    this.rev = r.rev;
    this.paused = r.paused;
    this.kept = [...r.kept];
    this.adopted = [...r.adopted];
    this.note = r.note;
    this.view = this.makeView();
  }

  /** Starts watching the store and the other tabs; writes a rescued document right away. */
  start(): void {
    this.disposers.push(this.host.subscribe(() => this.onHostChange()));
    if (this.channel) this.disposers.push(this.channel.subscribe((m) => this.onMessage(m)));
    if (this.committed !== this.host.getState().doc) void this.flush();
  }

  stop(): void {
    for (const d of this.disposers.splice(0)) d();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  getView = (): AutosaveView => this.view;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  /** The stored revision this tab's document derives from. */
  get revision(): number {
    return this.rev;
  }

  private textOf(doc: T): string {
    if (this.textCache?.doc !== doc) this.textCache = { doc, text: this.codec.serialize(doc) };
    return this.textCache.text;
  }

  private get dirty(): boolean {
    return this.host.getState().doc !== this.committed;
  }

  private makeView(): AutosaveView {
    const status: AutosaveStatus = this.paused
      ? 'paused'
      : this.theirs
        ? 'conflict'
        : this.failure
          ? 'failed'
          : this.writing
            ? 'saving'
            : this.dirty
              ? 'pending'
              : 'saved';
    return {
      status,
      error: this.paused ?? this.failure,
      theirs: this.theirs,
      kept: this.kept,
      savedAt: this.savedAt,
      savedToFileAt: this.fileDoc !== null && this.fileDoc === this.host.getState().doc ? this.savedToFileAt : null,
      note: this.note,
    };
  }

  private emit(): void {
    const next = this.makeView();
    const prev = this.view;
    const same = (Object.keys(next) as (keyof AutosaveView)[]).every((k) => next[k] === prev[k]);
    if (same) return;
    this.view = next;
    for (const l of this.listeners) l();
  }

  private onHostChange(): void {
    const doc = this.host.getState().doc;
    if (doc === this.lastDoc) return; // selection or message only
    this.lastDoc = doc;
    if (this.adopting) return;
    this.seq++;
    this.schedule();
    this.emit();
  }

  private schedule(): void {
    if (this.paused || this.theirs) return;
    const now = this.now();
    this.firstPendingAt ??= now;
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstPendingAt + this.maxWaitMs - now));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, wait);
  }

  /** Writes the latest document now (after any write in flight); resolves when done or failed. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.firstPendingAt = null;
    const p = this.chain.then(() => this.writeLatest());
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async writeLatest(): Promise<void> {
    while (!this.paused && !this.theirs) {
      const doc = this.host.getState().doc;
      if (doc === this.committed) break;
      const seq = this.seq;
      const record: SavedRecord = { rev: this.rev + 1, tab: this.tab, time: this.now(), text: this.textOf(doc) };
      this.writing = true;
      this.emit();
      let result: WriteResult;
      try {
        result = await this.backend.write(this.rev, record);
      } catch (e) {
        this.writing = false;
        this.failure = describeStorageError(e);
        this.emit();
        return;
      }
      this.writing = false;
      if (!result.ok) {
        this.theirs = result.current;
        this.emit();
        return;
      }
      this.rev = record.rev;
      this.committed = doc;
      this.failure = null;
      this.savedAt = record.time;
      this.channel?.post({ kind: 'saved', rev: record.rev, tab: this.tab, time: record.time });
      for (const k of this.adopted.splice(0)) this.removeSync(k);
      if (this.rescueSeq !== null && seq >= this.rescueSeq) {
        this.removeSync(RESCUE_PREFIX + this.tab);
        this.rescueSeq = null;
      }
      this.emit();
    }
  }

  private removeSync(key: string): void {
    try {
      this.sync?.removeItem(key);
    } catch {
      // stays; the next start finds it equal to the stored document and removes it
    }
  }

  private onMessage(m: unknown): void {
    if (typeof m !== 'object' || m === null) return;
    const msg = m as Partial<SavedMessage>;
    if (msg.kind !== 'saved' || typeof msg.rev !== 'number' || typeof msg.tab !== 'string' || msg.tab === this.tab) return;
    if (msg.rev <= this.rev || (this.theirs && msg.rev <= this.theirs.rev)) return;
    this.theirs = { rev: msg.rev, tab: msg.tab, time: typeof msg.time === 'number' ? msg.time : this.now() };
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.emit();
  }

  /**
   * The page is being hidden or unloaded: write a synchronous rescue copy of unsaved work (when it
   * fits) and start writing it to the backend. Returns true when the latest document is safe (stored,
   * rescued, or saved to a file), false when leaving now would lose it.
   */
  onHide(): boolean {
    const doc = this.host.getState().doc;
    if (doc === this.committed) return true;
    let rescued = this.rescueSeq === this.seq;
    if (!rescued && this.sync) {
      const text = this.textOf(doc);
      if (text.length <= this.rescueLimit) {
        try {
          this.sync.setItem(RESCUE_PREFIX + this.tab, JSON.stringify({ base: this.rev, tab: this.tab, time: this.now(), text }));
          this.rescueSeq = this.seq;
          rescued = true;
        } catch {
          // full or unavailable: beforeunload asks the user to stay
        }
      }
    }
    if (!this.paused && !this.theirs) void this.flush();
    return rescued || doc === this.fileDoc;
  }

  /** The page is shown again: retry a failed write, and look for a write by a tab we did not hear. */
  async onShow(): Promise<void> {
    if (this.paused) return;
    try {
      const meta = await this.backend.readMeta();
      if (meta && meta.rev > this.rev && meta.tab !== this.tab && !this.theirs) {
        this.theirs = meta;
        this.emit();
        return;
      }
    } catch {
      // the write below reports it
    }
    if (this.failure && this.dirty) await this.flush();
  }

  /** beforeunload: true when the user should be asked to stay (leaving would lose work silently). */
  shouldWarnOnLeave(): boolean {
    return !this.onHide();
  }

  /** The current document as a file: its text and a name; remembered so the banner can say so. */
  saveToFile(): { text: string; name: string } {
    const doc = this.host.getState().doc;
    this.fileDoc = doc;
    this.savedToFileAt = this.now();
    this.emit();
    return { text: this.textOf(doc), name: this.codec.fileName(doc) };
  }

  /** Conflict: replace this tab's document with the other tab's (one undo brings this tab's back). */
  async loadTheirs(): Promise<void> {
    if (!this.theirs) return;
    let stored: { meta: SavedMeta | null; doc: unknown };
    try {
      stored = await this.backend.read();
    } catch (e) {
      this.note = `Could not read the other tab's version: ${describeStorageError(e)}. This tab's document is unchanged.`;
      this.emit();
      return;
    }
    const text = storedText(stored.doc);
    const parsed = text === null ? null : tryParse(this.codec, text, "the other tab's graph");
    if (parsed instanceof DocumentError) {
      this.note = `${parsed.message}. This tab's document is unchanged.`;
      this.emit();
      return;
    }
    let exact = true;
    if (parsed !== null) {
      this.adopting = true;
      try {
        exact = this.host.replace(parsed) !== false;
      } finally {
        this.adopting = false;
      }
    }
    this.lastDoc = this.host.getState().doc;
    this.seq++;
    this.committed = parsed !== null && exact ? this.lastDoc : null;
    this.rev = stored.meta?.rev ?? this.theirs.rev;
    this.theirs = null;
    this.failure = null;
    this.note = null;
    this.emit();
    if (this.dirty) await this.flush();
  }

  /** Conflict: write this tab's document over the version the banner named. */
  keepMine(): Promise<void> {
    if (!this.theirs) return Promise.resolve();
    this.rev = this.theirs.rev;
    this.theirs = null;
    this.committed = null;
    this.note = null;
    this.emit();
    return this.flush();
  }

  /** Hides a kept-aside copy from now on (it stays stored). */
  async dismissKept(key: string): Promise<void> {
    this.kept = this.kept.filter((k) => k.key !== key);
    this.emit();
    try {
      if (!key.startsWith('memory:')) await this.backend.dismissAside(key);
    } catch {
      // shown again next start
    }
  }

  dismissNote(): void {
    this.note = null;
    this.emit();
  }
}

// ---------------------------------------------------------------------------------------------
// The browser's pieces

/** IndexedDB when it opens, else localStorage, else nothing; with a note for the user when not IndexedDB. */
export async function openBrowserBackend(sync: SyncStorage | null): Promise<{ backend: AutosaveBackend; note: string | null }> {
  let why = 'IndexedDB is missing';
  try {
    if (typeof indexedDB !== 'undefined') {
      const b = indexedDbBackend();
      await b.readMeta();
      return { backend: b, note: null };
    }
  } catch (e) {
    why = describeStorageError(e);
  }
  if (sync) return { backend: keyValueBackend(sync), note: `Autosave uses localStorage (about 5 MB) because ${why}.` };
  return { backend: unavailableBackend(why), note: null };
}

/** BroadcastChannel, when the browser has it. */
export function browserChannel(name = 'unet-studio:autosave'): AutosaveChannel | null {
  if (typeof BroadcastChannel === 'undefined') return null;
  const ch = new BroadcastChannel(name);
  return {
    post: (m) => ch.postMessage(m),
    subscribe: (fn) => {
      const h = (e: MessageEvent) => fn(e.data);
      ch.addEventListener('message', h);
      return () => ch.removeEventListener('message', h);
    },
  };
}

export function newTabId(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
