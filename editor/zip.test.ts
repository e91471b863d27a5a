import { describe, expect, it } from 'vitest';
import { unzipSync, strFromU8 } from 'fflate';
import { zipFiles } from './zip';
import { pytorchTarget } from '../codegen/targets/pytorch';
import { iddpm } from '../graph/templates';
import { IDDPM_SMALL } from '../bench/configs';

describe('the code panel’s .zip of a multi-file export', () => {
  it('holds every file of the PyTorch project under one folder, byte for byte, and the same graph gives the same zip', async () => {
    const g = iddpm(IDDPM_SMALL, 16);
    const files = await pytorchTarget.generate(g, { platform: 'browser', tfjs: () => Promise.reject(new Error('not needed')) });
    const zip = zipFiles(files.files, `${files.className}-pytorch`);
    const back = unzipSync(zip);
    expect(Object.keys(back)).toEqual(files.files.map((f) => `${files.className}-pytorch/${f.path}`));
    expect(Object.keys(back).map((k) => k.split('/')[1])).toEqual(['model.py', 'train.py', 'sample.py', 'README.md']);
    for (const f of files.files) expect(strFromU8(back[`${files.className}-pytorch/${f.path}`])).toBe(f.text);
    const again = zipFiles((await pytorchTarget.generate(g, { platform: 'browser', tfjs: () => Promise.reject(new Error('not needed')) })).files, `${files.className}-pytorch`);
    expect(Buffer.from(again).equals(Buffer.from(zip))).toBe(true);
  });

  it('keeps the folder name plain whatever the class name', () => {
    const zip = zipFiles([{ path: 'a.txt', text: 'x' }], '../"evil"/../');
    expect(Object.keys(unzipSync(zip))).toEqual(['evil_/a.txt']);
  });
});
