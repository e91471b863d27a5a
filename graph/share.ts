/**
 * Share links: a workspace (or one variant, as a workspace of one) in the URL's hash,
 * `#w=<base64url(deflate(json))>` (raw deflate, fflate). No server: the link is the design.
 *
 * Decoding checks each layer and names the one that failed, so a user learns whether the link was
 * cut off or changed (bad base64url, data that does not decompress, text that is not JSON) or holds
 * a design this app cannot open (the workspace reader's message). A link longer than
 * `MAX_LINK_CHARS`, or one that decompresses to more than a document may hold, is refused before it
 * is decoded further.
 */
import { Inflate, deflateSync, strToU8 } from 'fflate';
import { DocumentError } from './document';
import { MAX_DOCUMENT_BYTES } from './limits';
import { readWorkspace, serializeWorkspace, type Workspace } from './workspace';

/** The hash a share link starts with. */
export const SHARE_PREFIX = '#w=';
/**
 * The longest hash a link may have: 2,000,000 characters (2 MB). Chromium keeps URLs up to 2 MB;
 * a CIFAR-10 UNet (about 100 blocks) takes about 10 kB.
 */
export const MAX_LINK_CHARS = 2_000_000;

export class ShareLinkError extends Error {
  override name = 'ShareLinkError';
}

const fmt = new Intl.NumberFormat('en-US');
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  const out: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    chunk += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    if (i + 1 < bytes.length) chunk += ALPHABET[(n >> 6) & 63];
    if (i + 2 < bytes.length) chunk += ALPHABET[n & 63];
    if (chunk.length >= 8192) {
      out.push(chunk);
      chunk = '';
    }
  }
  out.push(chunk);
  return out.join('');
}

/** base64url (padding allowed) to bytes; ShareLinkError naming the first bad character. */
export function fromBase64Url(text: string): Uint8Array {
  const s = text.replace(/=+$/, '');
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code >= 128 || INDEX[code] < 0) {
      throw new ShareLinkError(
        `This link is damaged: its data is not valid base64url (${JSON.stringify(s[i])} at position ${i + 1} of ${fmt.format(s.length)}). It may have been changed when it was copied.`,
      );
    }
  }
  if (s.length % 4 === 1) {
    throw new ShareLinkError(`This link is damaged: its data is not valid base64url (${fmt.format(s.length)} characters cannot be whole bytes). It may have been cut off when it was copied.`);
  }
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n =
      (INDEX[s.charCodeAt(i)] << 18) |
      (INDEX[s.charCodeAt(i + 1)] << 12) |
      ((i + 2 < s.length ? INDEX[s.charCodeAt(i + 2)] : 0) << 6) |
      (i + 3 < s.length ? INDEX[s.charCodeAt(i + 3)] : 0);
    out[o++] = (n >> 16) & 255;
    if (i + 2 < s.length) out[o++] = (n >> 8) & 255;
    if (i + 3 < s.length) out[o++] = n & 255;
  }
  return out;
}

/** The hash (`#w=…`) of a workspace; ShareLinkError when it would be longer than `MAX_LINK_CHARS`. */
export function encodeShareHash(ws: Workspace): string {
  // Compact JSON: the link carries no indentation.
  const json = JSON.stringify(JSON.parse(serializeWorkspace(ws)) as unknown);
  const hash = SHARE_PREFIX + toBase64Url(deflateSync(strToU8(json), { level: 9 }));
  if (hash.length > MAX_LINK_CHARS) {
    throw new ShareLinkError(
      `The link would be ${fmt.format(hash.length)} characters long; links are limited to ${fmt.format(MAX_LINK_CHARS)} characters (2 MB). Share fewer variants, or save the workspace to a file and share that.`,
    );
  }
  return hash;
}

class TooLarge extends Error {}

/** Inflates raw deflate data, refusing more than `limit` bytes of output. */
function inflateAtMost(data: Uint8Array, limit: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const inf = new Inflate((chunk) => {
    total += chunk.length;
    if (total > limit) throw new TooLarge();
    chunks.push(chunk);
  });
  inf.push(data, true);
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * The workspace in a location hash (with or without its `#`), or null when the hash is not a share
 * link. ShareLinkError with a message for the user when the link is too long or damaged, or its
 * design cannot be opened.
 */
export function decodeShareHash(hash: string): Workspace | null {
  const h = hash.startsWith('#') ? hash : `#${hash}`;
  if (!h.startsWith(SHARE_PREFIX)) return null;
  if (h.length > MAX_LINK_CHARS) {
    throw new ShareLinkError(`This link is ${fmt.format(h.length)} characters long; UNet Studio opens links of at most ${fmt.format(MAX_LINK_CHARS)} characters (2 MB).`);
  }
  const data = h.slice(SHARE_PREFIX.length);
  if (data.length === 0) throw new ShareLinkError('This link is damaged: it holds no design (nothing follows "#w="). It may have been cut off when it was copied.');
  const packed = fromBase64Url(data);
  let bytes: Uint8Array;
  try {
    bytes = inflateAtMost(packed, MAX_DOCUMENT_BYTES);
  } catch (e) {
    if (e instanceof TooLarge) {
      throw new ShareLinkError(`This link's design decompresses to more than ${fmt.format(MAX_DOCUMENT_BYTES)} bytes, more than UNet Studio opens; it was not opened.`);
    }
    throw new ShareLinkError(`This link is damaged: its data could not be decompressed (${e instanceof Error ? e.message : String(e)}). It may have been cut off or changed when it was copied.`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ShareLinkError('This link is damaged: its data decompresses to bytes that are not UTF-8 text. It may have been changed when it was copied.');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ShareLinkError(`This link is damaged: its design is not valid JSON (${e instanceof Error ? e.message : String(e)}).`);
  }
  try {
    return readWorkspace(raw, 'the linked design');
  } catch (e) {
    if (e instanceof DocumentError) throw new ShareLinkError(`This link's design could not be opened: ${e.message}`);
    throw e;
  }
}
