/** A small TypeScript tokenizer for the code panel: keywords, strings, comments, numbers, the rest. */
export type TokenKind = 'keyword' | 'string' | 'comment' | 'number' | 'type' | 'plain';
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
}

const KEYWORDS = new Set(
  ('import export from as const let var function return if else for while do break continue new class extends implements ' +
    'interface type enum public private protected readonly static async await throw try catch finally typeof instanceof in of ' +
    'true false null undefined this super void keyof satisfies default switch case declare get set').split(' '),
);

const RULES: readonly [TokenKind | 'word', RegExp][] = [
  ['comment', /\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/y],
  ['string', /'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?|`(?:\\[\s\S]|[^`\\])*`?/y],
  ['number', /\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?n?)\b/y],
  ['word', /[A-Za-z_$][\w$]*/y],
  ['plain', /\s+|[^\sA-Za-z_$0-9'"`/]+|\//y],
];

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const push = (kind: TokenKind, text: string) => {
    const last = out[out.length - 1];
    if (last && last.kind === kind && kind === 'plain') out[out.length - 1] = { kind, text: last.text + text };
    else out.push({ kind, text });
  };
  let i = 0;
  while (i < src.length) {
    let matched = false;
    for (const [kind, re] of RULES) {
      re.lastIndex = i;
      const m = re.exec(src);
      if (!m || m[0].length === 0) continue;
      const text = m[0];
      if (kind === 'word') push(KEYWORDS.has(text) ? 'keyword' : /^[A-Z]/.test(text) ? 'type' : 'plain', text);
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
