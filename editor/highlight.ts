/**
 * Small tokenizers for the code panel, one grammar per export-target language (keywords, strings,
 * comments, numbers, the rest). A language without a grammar shows as plain text.
 */
import type { TargetLanguage } from '../codegen/targets';

export type TokenKind = 'keyword' | 'string' | 'comment' | 'number' | 'type' | 'plain';
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

interface Grammar {
  readonly keywords: ReadonlySet<string>;
  /** Tried in order at each position; `word` tokens become keywords, types (Capitalised) or plain. */
  readonly rules: readonly (readonly [TokenKind | 'word', RegExp])[];
}

const words = (s: string): ReadonlySet<string> => new Set(s.split(/\s+/));

const TYPESCRIPT: Grammar = {
  keywords: words(
    'import export from as const let var function return if else for while do break continue new class extends implements ' +
      'interface type enum public private protected readonly static async await throw try catch finally typeof instanceof in of ' +
      'true false null undefined this super void keyof satisfies default switch case declare get set',
  ),
  rules: [
    ['comment', /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
    ['string', /'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?|`(?:\\[\s\S]|[^`\\])*`?/y],
    ['number', /\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?n?)\b/y],
    ['word', /[A-Za-z_$][\w$]*/y],
    ['plain', /\s+|[^\sA-Za-z_$0-9'"`/]+|\//y],
  ],
};

const PYTHON: Grammar = {
  keywords: words(
    'False None True and as assert async await break class continue def del elif else except finally for from global if import ' +
      'in is lambda nonlocal not or pass raise return try while with yield self',
  ),
  rules: [
    ['comment', /#[^\n]*/y],
    // Triple-quoted first, with any prefix (r, b, f, rb…), then one-line strings.
    ['string', /[rRbBuUfF]{0,2}(?:'''[\s\S]*?(?:'''|$)|"""[\s\S]*?(?:"""|$)|'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?)/y],
    ['number', /\b(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?j?)\b/y],
    ['word', /[A-Za-z_][\w]*/y],
    ['plain', /\s+|[^\sA-Za-z_0-9'"#]+/y],
  ],
};

const GRAMMARS: Partial<Record<TargetLanguage, Grammar>> = { typescript: TYPESCRIPT, python: PYTHON };

/** Tokens of `src` in `language`; one plain token for a language without a grammar. */
export function highlight(src: string, language: TargetLanguage): Token[] {
  const g = GRAMMARS[language];
  if (!g) return src === '' ? [] : [{ kind: 'plain', text: src }];
  const out: Token[] = [];
  const push = (kind: TokenKind, text: string) => {
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind === 'plain') out[out.length - 1] = { kind, text: last.text + text };
    else out.push({ kind, text });
  };
  let i = 0;
  while (i < src.length) {
    let matched = false;
    for (const [kind, re] of g.rules) {
      re.lastIndex = i;
      const m = re.exec(src);
      if (!m || m[0].length === 0) continue;
      const text = m[0];
      if (kind === 'word') push(g.keywords.has(text) ? 'keyword' : /^[A-Z]/.test(text) ? 'type' : 'plain', text);
      else push(kind, text);
      i += text.length;
      matched = true;
      break;
    }
    if (!matched) {
      push('plain', src[i]);
      i++;
    }
  }
  return out;
}

/** TypeScript tokens (the tfjs module). */
export const tokenize = (src: string): Token[] => highlight(src, 'typescript');
