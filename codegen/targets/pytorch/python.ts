/**
 * Python names for the PyTorch export: text from a user's graph only ever becomes an escaped string
 * literal (`pyStr`, printable ASCII) or an identifier built from [A-Za-z0-9_] that is not a keyword,
 * a builtin or a name the module itself declares.
 */
export { pyStr } from '../../../blocks/pytorch';

/** Keywords and soft keywords (3.12), plus the names a generated module must never shadow. */
export const PY_RESERVED: ReadonlySet<string> = new Set(
  (
    'False None True and as assert async await break class continue def del elif else except finally for from ' +
    'global if import in is lambda nonlocal not or pass raise return try while with yield match case type _ ' +
    // builtins
    'abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr classmethod compile complex ' +
    'copyright credits delattr dict dir divmod enumerate eval exec exit filter float format frozenset getattr ' +
    'globals hasattr hash help hex id input int isinstance issubclass iter len license list locals map max ' +
    'memoryview min next object oct open ord pow print property quit range repr reversed round set setattr slice ' +
    'sorted staticmethod str sum super tuple vars zip NotImplemented Ellipsis ' +
    'BaseException Exception ArithmeticError AssertionError AttributeError ImportError IndexError KeyError ' +
    'LookupError MemoryError NameError NotImplementedError OSError OverflowError RuntimeError StopIteration ' +
    'TypeError ValueError ZeroDivisionError Warning UserWarning ' +
    // module-level dunders
    '__name__ __file__ __doc__ __builtins__ __spec__ __loader__ __package__ __import__ __annotations__ __class__ ' +
    // what generated modules import and read
    'torch nn F math typing Optional Tuple self'
  ).split(' '),
);

/** A readable identifier: runs of other characters become `_`, a leading digit gets `_`, reserved names a `_` suffix. */
export function pyIdentifier(s: string, fallback: string, taken: ReadonlySet<string> = new Set()): string {
  let id = s.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (id === '') id = fallback;
  if (/^[0-9]/.test(id)) id = `_${id}`;
  if (PY_RESERVED.has(id) || taken.has(id)) id = `${id}_`;
  return id;
}

/** PascalCase class name from a graph name (`iddpm-small` → `IddpmSmall`); a clash gets `Model`, then a number. */
export function pyClassName(s: string, taken: ReadonlySet<string>): string {
  const words = s.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  let id = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  if (id === '' || /^[0-9]/.test(id)) id = `Model${id}`;
  if (PY_RESERVED.has(id) || taken.has(id)) id = `${id}Model`;
  for (let i = 2, base = id; taken.has(id) || PY_RESERVED.has(id); i++) id = `${base}${i}`;
  return id;
}

/** Hands out unique names, never one in `taken` or reserved. */
export class PyNamer {
  private readonly used: Set<string>;
  constructor(taken: Iterable<string>) {
    this.used = new Set([...PY_RESERVED, ...taken]);
  }
  /** Marks a name as used (one declared elsewhere). */
  reserve(name: string): void {
    this.used.add(name);
  }
  take(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}
