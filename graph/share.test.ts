/**
 * Share links: encode → decode round trips (a workspace, one variant, non-ASCII names), the
 * base64url coder against Node's own, and each kind of damaged or oversized link with its message.
 */
import { describe, expect, it } from 'vitest';
import { deflateRawSync } from 'node:zlib';
import { deflateSync, strToU8 } from 'fflate';
import { GraphBuilder } from './builder';
import { serializeDocument, type Document } from './document';
import { MAX_DOCUMENT_BYTES } from './limits';
import { MAX_LINK_CHARS, SHARE_PREFIX, ShareLinkError, decodeShareHash, encodeShareHash, fromBase64Url, toBase64Url } from './share';
import { serializeWorkspace, type Workspace } from './workspace';

function doc(name: string, channels: number, description?: string): Document {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 8, width: 8 });
  const c = b.add('Conv2d', 'conv', { out_channels: channels }, { x });
  b.add('Output', 'output', {}, { x: c });
  const graph = b.build(name);
  return { graph: description === undefined ? graph : { ...graph, description }, layout: { [graph.nodes[0].id]: { x: 1, y: 2 } }, collapsed: [] };
}

const ws = (): Workspace => ({
  active: 'v2',
  variants: [
    { id: 'v1', name: 'Breite 32 — ünïcödé ✓', doc: doc('a', 32) },
    { id: 'v2', name: '64 ch', doc: doc('b', 64), metricsText: '{"step":10,"loss":0.125}\n' },
  ],
});

/** The hash of `bytes` as raw deflate in base64url. */
const hashOf = (bytes: Uint8Array) => SHARE_PREFIX + toBase64Url(deflateSync(bytes));

function linkError(hash: string): string {
  let caught: unknown;
  try {
    decodeShareHash(hash);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ShareLinkError);
  return (caught as Error).message;
}

/** A deterministic string of hex digits (incompressible to below half its length). */
function noise(n: number): string {
  let s = 0x12345678;
  let out = '';
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out += (s >>> 28).toString(16);
  }
  return out;
}

describe('share links', () => {
  it('base64url agrees with Node for every length mod 3', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 255, 256, 257, 10_000]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 151 + 7) & 255);
      const ours = toBase64Url(bytes);
      expect(ours).toBe(Buffer.from(bytes).toString('base64url'));
      expect(Buffer.from(fromBase64Url(ours)).equals(Buffer.from(bytes))).toBe(true);
    }
    expect([...fromBase64Url('AQI=')]).toEqual([1, 2]); // padding accepted
  });

  it('round trips a workspace: same variants, names, active one and metrics', () => {
    const w = ws();
    const hash = encodeShareHash(w);
    expect(hash.startsWith('#w=')).toBe(true);
    expect(hash).toMatch(/^#w=[A-Za-z0-9_-]+$/);
    const back = decodeShareHash(hash);
    expect(back).not.toBeNull();
    expect(serializeWorkspace(back!)).toBe(serializeWorkspace(w));
    // Without the '#', as some callers hold it.
    expect(serializeWorkspace(decodeShareHash(hash.slice(1))!)).toBe(serializeWorkspace(w));
  });

  it('round trips one variant, and reads a link holding a bare graph document', () => {
    const w = ws();
    const one: Workspace = { active: 'v1', variants: [w.variants[0]] };
    const back = decodeShareHash(encodeShareHash(one))!;
    expect(back.variants.map((v) => v.name)).toEqual(['Breite 32 — ünïcödé ✓']);
    expect(back.variants[0].doc.graph.nodes.find((n) => n.name === 'conv')?.params.out_channels).toBe(32);
    const d = doc('bare', 16);
    const bare = decodeShareHash(hashOf(strToU8(serializeDocument(d.graph, d.layout))))!;
    expect(bare.variants.map((v) => [v.id, v.name])).toEqual([['v1', 'bare']]);
  });

  it('is not a share link: null', () => {
    expect(decodeShareHash('')).toBeNull();
    expect(decodeShareHash('#')).toBeNull();
    expect(decodeShareHash('#section-2')).toBeNull();
  });

  it('names each kind of damage', () => {
    const good = encodeShareHash(ws());
    expect(linkError('#w=')).toMatch(/^This link is damaged: it holds no design/);
    expect(linkError(`${good.slice(0, 20)}!${good.slice(21)}`)).toBe(
      `This link is damaged: its data is not valid base64url ("!" at position 18 of ${(good.length - 3).toLocaleString('en-US')}). It may have been changed when it was copied.`,
    );
    expect(linkError('#w=AAAAA')).toMatch(/^This link is damaged: its data is not valid base64url \(5 characters cannot be whole bytes\)/);
    // Cut off: the deflate stream ends early.
    expect(linkError(good.slice(0, Math.floor(good.length / 2) - ((Math.floor(good.length / 2) - 3) % 4 === 1 ? 1 : 0)))).toMatch(
      /^This link is damaged: its data could not be decompressed \(unexpected EOF\)\. It may have been cut off or changed/,
    );
    // Bytes that are no deflate stream at all (block type 3 is invalid).
    expect(linkError(SHARE_PREFIX + toBase64Url(Uint8Array.from([0xff, 0xff, 0xff, 0xff])))).toMatch(/^This link is damaged: its data could not be decompressed \(invalid block type\)/);
    expect(linkError(hashOf(Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])))).toMatch(/^This link is damaged: its data decompresses to bytes that are not UTF-8 text/);
    expect(linkError(hashOf(strToU8('{"format": "unet-studio-workspace", ')))).toMatch(/^This link is damaged: its design is not valid JSON \(/);
    const w = JSON.parse(serializeWorkspace(ws())) as { variants: { document: { layout: unknown } }[] };
    w.variants[1].document.layout = { n1: { x: 'a', y: 0 } };
    expect(linkError(hashOf(strToU8(JSON.stringify(w))))).toMatch(
      /^This link's design could not be opened: the linked design, variant 2 \("64 ch"\) is malformed:\n {2}layout\.n1\.x: /,
    );
    expect(linkError(hashOf(strToU8('{"format":"something"}')))).toMatch(/^This link's design could not be opened: the linked design is not a UNet Studio graph or workspace/);
  });

  it('refuses a link that is too long, and one that decompresses to more than a document may hold', () => {
    expect(MAX_LINK_CHARS).toBe(2_000_000);
    expect(linkError(SHARE_PREFIX + 'A'.repeat(MAX_LINK_CHARS))).toBe(
      'This link is 2,000,003 characters long; UNet Studio opens links of at most 2,000,000 characters (2 MB).',
    );
    // Made by zlib (fast here, and a second implementation of the same format).
    const bomb = deflateRawSync(Buffer.alloc(MAX_DOCUMENT_BYTES + 1, 0x20), { level: 1 });
    expect(linkError(SHARE_PREFIX + toBase64Url(bomb))).toBe(
      `This link's design decompresses to more than ${MAX_DOCUMENT_BYTES.toLocaleString('en-US')} bytes, more than UNet Studio opens; it was not opened.`,
    );
  });

  it('will not make a link longer than the limit, and says what to do instead', () => {
    const big: Workspace = { active: 'v1', variants: [{ id: 'v1', name: 'big', doc: doc('big', 8, noise(3_200_000)) }] };
    let caught: unknown;
    try {
      encodeShareHash(big);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ShareLinkError);
    expect((caught as Error).message).toMatch(
      /^The link would be [\d,]+ characters long; links are limited to 2,000,000 characters \(2 MB\)\. Share fewer variants, or save the workspace to a file and share that\.$/,
    );
    const n = Number(/would be ([\d,]+)/.exec((caught as Error).message)![1].replace(/,/g, ''));
    expect(n).toBeGreaterThan(MAX_LINK_CHARS);
  });
});
