/**
 * config.json exactly as diffusers' `save_config` writes it (`ConfigMixin.to_json_string`:
 * `json.dumps(config, indent=2, sort_keys=True) + "\n"`): Python's json module, byte for byte —
 * keys sorted by code point, two-space indent, `", "`-free separators (`,` at line ends, `": "`),
 * `[]` for an empty list, ASCII only (`\uXXXX` escapes, lower-case hex, DEL included), and numbers
 * as Python prints them: `int` without a point, `float` by `repr` (`0.0`, `1e-05`, `1e+16`).
 *
 * A JSON number does not say whether diffusers held an int or a float; diffusers' own types do:
 * `dropout` and `norm_eps` default to floats (0.0, 1e-5) and are always floats here,
 * `mid_block_scale_factor` defaults to the int 1 and is a float otherwise (2 → `2.0`, as a Python
 * caller writing 2.0 gets), and every other integral number is an int.
 */
import type { ConfigValue, DiffusersSavedConfig } from '../../../graph/templates/diffusers-config';

const ALWAYS_FLOAT = new Set(['dropout', 'norm_eps']);

/** Python's `repr(float(v))`. */
export function pythonFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  // toExponential() without digits: the shortest digits that round-trip (as repr picks them).
  const [mant, e] = Math.abs(v).toExponential().split('e');
  const exp = Number(e);
  const digits = mant.replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  return `${sign}${digits.slice(0, exp + 1).padEnd(exp + 1, '0')}.${digits.slice(exp + 1) || '0'}`;
}

/** Python's `json.dumps(s)` with ensure_ascii (the default). */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function pythonNumber(key: string, v: number): string {
  const float = ALWAYS_FLOAT.has(key) || (key === 'mid_block_scale_factor' && v !== 1) || !Number.isInteger(v);
  return float ? pythonFloat(v) : BigInt(v).toString();
}

function dump(key: string, v: ConfigValue, indent: string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return pythonString(v);
  if (typeof v === 'number') return pythonNumber(key, v);
  if (v.length === 0) return '[]';
  const inner = `${indent}  `;
  return `[\n${v.map((item) => `${inner}${dump(key, item, inner)}`).join(',\n')}\n${indent}]`;
}

/** The text of config.json for `config`, as `UNet2DModel.save_config` writes it. */
export function configJson(config: DiffusersSavedConfig): string {
  const keys = Object.keys(config).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return '{}\n';
  return `{\n${keys.map((k) => `  ${pythonString(k)}: ${dump(k, config[k], '  ')}`).join(',\n')}\n}\n`;
}
