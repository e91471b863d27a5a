/**
 * Turning text from a user's graph into code safely: it only ever appears as an escaped string
 * literal (also inside comments, where the literal form cannot close the comment or end the line)
 * or as an identifier built from [A-Za-z0-9_] alone.
 */

/** A JSON string literal that is also safe inside `//` and `/* … *\/` comments. */
export function literal(s: string): string {
  return JSON.stringify(s)
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
    .replace(/\*\//g, '*\\/')
    .replace(/<\/(script)/gi, '<\\/$1');
}

const RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if ' +
    'import in instanceof new null return super switch this throw true try typeof var void while with yield let static ' +
    'implements interface package private protected public await async of get set any unknown never number string boolean ' +
    'symbol object undefined NaN Infinity arguments eval constructor prototype globalThis Object Array Math Error Map Set ' +
    'Promise JSON Number String Boolean Symbol Function Date RegExp tf'
  ).split(' '),
);

/** A readable identifier: non-ASCII and punctuation become `_`, reserved words get a `_` suffix. */
export function identifier(s: string, fallback: string): string {
  let id = s.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (id === '') id = fallback;
  if (/^[0-9]/.test(id)) id = `_${id}`;
  if (RESERVED.has(id)) id = `${id}_`;
  return id;
}

/**
 * PascalCase class name from a graph name (`iddpm-small` → `IddpmSmall`). `taken`: names the module
 * already declares or reads (`CONFIG`, `Rng`, globals such as `Uint8Array`); a clash gets `Model`.
 */
export function className(s: string, taken: ReadonlySet<string> = new Set()): string {
  const words = s.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  let id = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  if (id === '' || /^[0-9]/.test(id)) id = `Model${id}`;
  if (RESERVED.has(id) || taken.has(id)) id = `${id}Model`;
  for (let i = 2, base = id; taken.has(id); i++) id = `${base}${i}`;
  return id;
}

/** Hands out unique names, never one in `taken`. */
export class Namer {
  private readonly used: Set<string>;
  constructor(taken: Iterable<string>) {
    this.used = new Set(taken);
  }
  take(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

/** A camelCase function name from a group name (`input_blocks.4` → `inputBlocks4`); `fallback` when nothing usable is left. */
export function functionName(s: string, fallback: string): string {
  const words = s.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  const id = words.map((w, i) => (i === 0 ? w[0].toLowerCase() : w[0].toUpperCase()) + w.slice(1)).join('');
  return identifier(id, fallback);
}
