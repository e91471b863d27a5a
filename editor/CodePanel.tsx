import { zipFiles } from './zip';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Graph } from '../graph/model';
import { analyze } from '../graph/analyze';
import { TARGETS, type ExportFile, type ExportTarget, type TargetLanguage } from '../codegen/targets';
import { CodegenClient, EMPTY_CODE, type CodeState } from './codegenClient';
import { highlight } from './highlight';

export function downloadText(text: string, filename: string, type: string): void {
  downloadBlob(new Blob([text], { type }), filename);
}

function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const MIME: Record<TargetLanguage, string> = {
  typescript: 'text/typescript',
  python: 'text/x-python',
  markdown: 'text/markdown',
  json: 'application/json',
  text: 'text/plain',
};

/** A file's language from its extension (the main file's is the target's). */
function languageOf(path: string, target: ExportTarget, main: string): TargetLanguage {
  if (path === main) return target.language;
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return ext === 'ts' ? 'typescript' : ext === 'py' ? 'python' : ext === 'md' ? 'markdown' : ext === 'json' ? 'json' : 'text';
}

function statusText(s: CodeState, valid: boolean, target: ExportTarget): string {
  if (!valid) return 'fix the graph’s errors to generate code';
  switch (s.status) {
    case 'idle':
    case 'generating':
      return 'generating…';
    case 'checking':
      return target.checkWords.checking;
    case 'ok':
      return `${target.checkWords.passed} ✓`;
    case 'type-errors': {
      const n = s.diagnostics.filter((d) => d.severity === 'error').length;
      return `${n} ${target.checkWords.problem}${n === 1 ? '' : 's'}`;
    }
    case 'error':
      return `error: ${s.message}`;
  }
}

/** One tab per export target (codegen/targets); each generates and checks only while it is shown. */
export function CodePanel({ graph, onClose }: { graph: Graph; onClose: () => void }) {
  const [active, setActive] = useState<string>(TARGETS[0].id);
  const [states, setStates] = useState<Readonly<Record<string, CodeState>>>({});
  const clients = useRef(new Map<string, CodegenClient>());
  /** The graph each target last generated for: switching back to a tab regenerates only if it changed. */
  const requested = useRef(new Map<string, Graph>());
  const valid = analyze(graph).ok;
  const target = TARGETS.find((t) => t.id === active) ?? TARGETS[0];
  const code = states[target.id] ?? EMPTY_CODE;

  useEffect(() => {
    const cs = clients.current;
    return () => {
      for (const c of cs.values()) c.dispose();
      cs.clear();
    };
  }, []);
  useEffect(() => {
    if (!valid || requested.current.get(target.id) === graph) return;
    const t = setTimeout(() => {
      let c = clients.current.get(target.id);
      if (!c) {
        const id = target.id;
        c = new CodegenClient((s) => setStates((old) => ({ ...old, [id]: s })), id);
        clients.current.set(id, c);
      }
      requested.current.set(target.id, graph);
      c.request(graph);
    }, 300);
    return () => clearTimeout(t);
  }, [graph, valid, target.id]);

  // The file shown: the main one unless another of a multi-file export was picked.
  const [picked, setPicked] = useState<Readonly<Record<string, string>>>({});
  const shown = code.files.find((f) => f.path === picked[target.id]) ?? code.files.find((f) => f.path === code.main);
  const shownText = shown?.text ?? code.text;
  const language = shown ? languageOf(shown.path, target, code.main) : target.language;
  const tokens = useMemo(() => highlight(shownText, language), [shownText, language]);
  const [copied, setCopied] = useState(false);
  const ready = valid && code.text !== '' && (code.status === 'ok' || code.status === 'type-errors' || code.status === 'checking');
  const several = code.files.length > 1;
  const download = (): void => {
    const mainFile = code.files.find((f) => f.path === code.main);
    // A binary export (ONNX): its bytes; what the panel shows is only a readable summary of them.
    if (!several && mainFile?.bytes) downloadBlob(new Blob([mainFile.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), mainFile.path);
    else if (!several) downloadText(code.text, code.main || `${code.className || 'model'}.ts`, MIME[target.language]);
    else downloadBlob(new Blob([zipFiles(code.files, `${code.className || 'model'}-${target.id}`)], { type: 'application/zip' }), `${code.className || 'model'}-${target.id}.zip`);
  };
  return (
    <section className="code-panel" data-testid="code-panel" data-target={target.id}>
      <nav className="code-tabs" role="tablist" aria-label="Export targets">
        {TARGETS.map((t) => (
          <button
            key={t.id}
            role="tab"
            aria-selected={t.id === target.id}
            className={t.id === target.id ? 'active' : ''}
            title={t.description}
            data-testid={`code-tab-${t.id}`}
            onClick={() => setActive(t.id)}
          >
            {t.label}
          </button>
        ))}
      </nav>
      <header>
        <strong data-testid="code-file">{code.main || 'Generated module'}</strong>
        <span className={`code-status status-${valid ? code.status : 'invalid'}`} data-testid="code-status">
          {statusText(code, valid, target)}
        </span>
        <span className="spacer" />
        <button
          disabled={!ready}
          onClick={() => {
            void navigator.clipboard?.writeText(shownText).then(() => {
              setCopied(true);
              setTimeout(() => setCopied(false), 1200);
            });
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        {/* `download-ts` was this button's id when the panel had only the tfjs module; e2e tests use it. */}
        <button
          data-testid="download-ts"
          disabled={!ready}
          title={several ? `all ${code.files.length} files as a .zip` : undefined}
          onClick={download}
        >
          {several ? 'Download .zip' : `Download .${/\.([^.]+)$/.exec(code.main)?.[1] ?? 'ts'}`}
        </button>
        <button className="icon" onClick={onClose} aria-label="Close code panel">
          ×
        </button>
      </header>
      {several && (
        <nav className="code-files" aria-label="Generated files">
          {code.files.map((f) => (
            <button key={f.path} className={f === shown ? 'active' : ''} onClick={() => setPicked((old) => ({ ...old, [target.id]: f.path }))}>
              {f.path}
            </button>
          ))}
        </nav>
      )}
      {code.diagnostics.length > 0 && (code.status === 'type-errors' || code.status === 'ok') && (
        <ul className="diagnostics" data-testid="code-diagnostics">
          {code.diagnostics.slice(0, 20).map((d, i) => (
            <li key={i} className={`severity-${d.severity}`}>
              {several ? `${d.file} ` : ''}line {d.line}: {d.message}
            </li>
          ))}
        </ul>
      )}
      <pre className="code" data-testid="code-text" data-language={language}>
        <code>
          {tokens.map((t, i) => (t.kind === 'plain' ? t.text : <span key={i} className={`tok-${t.kind}`}>{t.text}</span>))}
        </code>
      </pre>
    </section>
  );
}
