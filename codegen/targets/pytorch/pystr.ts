/**
 * Text from a user's graph inside generated Python: only ever as this escaped string literal. The
 * literal is pure printable ASCII (so it is also safe inside a `#` comment and in any file encoding)
 * and evaluates in Python to exactly the same code points, lone UTF-16 surrogates included (Python's
 * str holds them as code points D800–DFFF).
 */
export function pyStr(s: string): string {
  let out = '"';
  // for…of walks code points; a lone surrogate comes out as a one-unit string.
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x0d) out += '\\r';
    else if (cp === 0x09) out += '\\t';
    else if (cp < 0x100) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
