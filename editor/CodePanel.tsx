import { useEffect, useMemo, useRef, useState } from 'react';
import type { Graph } from '../graph/model';
import { analyze } from '../graph/analyze';
import { CodegenClient, EMPTY_CODE, type CodeState } from './codegenClient';
import { tokenize } from './highlight';

export function downloadText(text: string, filename: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function statusText(s: CodeState, valid: boolean): string {
  if (!valid) return 'fix the graph’s errors to generate code';
  switch (s.status) {
    case 'idle':
    case 'generating':
      return 'generating…';
    case 'checking':
      return 'type-checking…';
    case 'ok':
      return 'type-checked ✓';
    case 'type-errors':
      return `${s.diagnostics.length} type error${s.diagnostics.length === 1 ? '' : 's'}`;
    case 'error':
      return `error: ${s.message}`;
  }
}

export function CodePanel({ graph, onClose }: { graph: Graph; onClose: () => void }) {
  const [code, setCode] = useState<CodeState>(EMPTY_CODE);
  const client = useRef<CodegenClient | null>(null);
  const valid = analyze(graph).ok;
  useEffect(() => {
    const c = new CodegenClient(setCode);
    client.current = c;
    return () => c.dispose();
  }, []);
  useEffect(() => {
    if (!valid) return;
    const t = setTimeout(() => client.current?.request(graph), 300);
    return () => clearTimeout(t);
  }, [graph, valid]);
  const tokens = useMemo(() => tokenize(code.text), [code.text]);
  const [copied, setCopied] = useState(false);
  const ready = valid && code.text !== '' && (code.status === 'ok' || code.status === 'type-errors' || code.status === 'checking');
  return (
    <section className="code-panel" data-testid="code-panel">
      <header>
        <strong>{code.className ? `${code.className}.ts` : 'Generated module'}</strong>
        <span className={`code-status status-${valid ? code.status : 'invalid'}`} data-testid="code-status">
          {statusText(code, valid)}
        </span>
        <span className="spacer" />
        <button
          disabled={!ready}
          onClick={() => {
            void navigator.clipboard?.writeText(code.text).then(() => {
              setCopied(true);
              setTimeout(() => setCopied(false), 1200);
            });
          }}
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button data-testid="download-ts" disabled={!ready} onClick={() => downloadText(code.text, `${code.className || 'model'}.ts`, 'text/typescript')}>
          Download .ts
        </button>
        <button className="icon" onClick={onClose} aria-label="Close code panel">
          ×
        </button>
      </header>
      {code.status === 'type-errors' && (
        <ul className="diagnostics">
          {code.diagnostics.slice(0, 20).map((d, i) => (
            <li key={i}>
              line {d.line}: {d.message}
            </li>
          ))}
        </ul>
      )}
      <pre className="code" data-testid="code-text">
        <code>
          {tokens.map((t, i) => (t.kind === 'plain' ? t.text : <span key={i} className={`tok-${t.kind}`}>{t.text}</span>))}
        </code>
      </pre>
    </section>
  );
}
