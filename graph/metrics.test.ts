/** metrics.jsonl as train.py writes it: records, a cut last line, bad lines by number, images/s, curves. */
import { describe, expect, it } from 'vitest';
import { alignCurves, imagesPerSecond, lossCurve, metricsProblemsText, parseMetrics } from './metrics';

/*
 * Lines in the exact format of train.py (codegen/targets/pytorch/python-text.ts): Python's
 * json.dumps of its `rec` dict (keys in that order, ", " and ": " separators, `seconds` rounded to
 * 3 places and `images_per_second` to 2), printed by /usr/bin/python3 from the same dicts.
 */
const PLAIN = [
  '{"step": 10, "loss": 1.0234567891234, "lr": 0.0001, "seconds": 1.235, "images_per_second": 81.23}',
  '{"step": 20, "loss": 0.5123, "lr": 0.0001, "seconds": 2.5, "images_per_second": 79.0}',
  '{"step": 30, "loss": 0.25, "lr": 0.0001, "seconds": 3.75, "images_per_second": 80.5}',
];
/** A model that learns its variance also logs the two parts of its loss; lr in warm-up prints as 2e-05. */
const LEARNED = '{"step": 4, "loss": 0.3, "lr": 2e-05, "seconds": 0.123, "images_per_second": 12.35, "mse": 0.03333333333333333, "vb": 0.06666666666666667}';

describe('metrics.jsonl', () => {
  it('reads every record of a finished file', () => {
    const m = parseMetrics(PLAIN.join('\n') + '\n');
    expect(m.problems).toEqual([]);
    expect(m.partialLastLine).toBe(false);
    expect(m.rows).toEqual([
      { step: 10, loss: 1.0234567891234, lr: 0.0001, seconds: 1.235, imagesPerSecond: 81.23 },
      { step: 20, loss: 0.5123, lr: 0.0001, seconds: 2.5, imagesPerSecond: 79 },
      { step: 30, loss: 0.25, lr: 0.0001, seconds: 3.75, imagesPerSecond: 80.5 },
    ]);
    expect(parseMetrics(LEARNED + '\n').rows).toEqual([
      { step: 4, loss: 0.3, lr: 2e-5, seconds: 0.123, imagesPerSecond: 12.35, mse: 0.03333333333333333, vb: 0.06666666666666667 },
    ]);
  });

  it('a last line cut short is left out quietly; a whole last line without its newline is kept', () => {
    const cut = parseMetrics(PLAIN.join('\n') + '\n' + '{"step": 40, "loss": 0.2');
    expect(cut.rows.map((r) => r.step)).toEqual([10, 20, 30]);
    expect(cut.problems).toEqual([]);
    expect(cut.partialLastLine).toBe(true);
    const whole = parseMetrics(PLAIN.join('\n'));
    expect(whole.rows.map((r) => r.step)).toEqual([10, 20, 30]);
    expect(whole.partialLastLine).toBe(false);
    expect(parseMetrics('')).toEqual({ rows: [], problems: [], partialLastLine: false });
  });

  it('reports malformed lines by number, keeps the rest, ignores unknown fields and blank lines', () => {
    const text = [
      PLAIN[0],
      '',
      'step 20 loss 0.5',
      '[1, 2]',
      '{"step": 25}',
      '{"step": "30", "loss": 0.3}',
      '{"step": 31, "loss": 0.3, "lr": "high"}',
      '{"step": 2.5, "loss": 0.3}',
      '{"step": 40, "loss": 0.2, "grad_norm": 1.5, "note": "x"}',
      '{"step": 41, "loss": NaN}',
      '',
    ].join('\r\n');
    const m = parseMetrics(text);
    expect(m.rows).toEqual([
      { step: 10, loss: 1.0234567891234, lr: 0.0001, seconds: 1.235, imagesPerSecond: 81.23 },
      { step: 40, loss: 0.2 },
    ]);
    expect(m.problems.map((p) => p.line)).toEqual([3, 4, 5, 6, 7, 8, 10]);
    expect(m.problems[0]!.message).toMatch(/^not JSON \(/);
    expect(m.problems.slice(1, 6).map((p) => p.message)).toEqual([
      'expected a JSON object, got a list',
      '"loss" is missing',
      '"step" must be a number, got "30"',
      '"lr" must be a number, got "high"',
      '"step" must be a whole number ≥ 0, got 2.5',
    ]);
    expect(m.problems[6]!.message).toMatch(/^not JSON \(/);
    expect(m.partialLastLine).toBe(false);
    expect(metricsProblemsText(m.problems.slice(1, 3))).toBe('line 4: expected a JSON object, got a list\nline 5: "loss" is missing');
  });

  it('images/s: the median of the logged rates, else steps × images per step over seconds', () => {
    const m = parseMetrics(PLAIN.join('\n'));
    expect(imagesPerSecond(m.rows)).toBe(80.5);
    expect(imagesPerSecond(m.rows.slice(0, 2))).toBeCloseTo((81.23 + 79) / 2, 12);
    // Without the rate (an older file): 20 steps of 8 images in 3.75 − 1.235 seconds.
    const bare = parseMetrics(['{"step": 10, "loss": 1.0, "seconds": 1.235}', '{"step": 20, "loss": 0.5, "seconds": 2.5}', '{"step": 30, "loss": 0.25, "seconds": 3.75}'].join('\n')).rows;
    expect(imagesPerSecond(bare, 8)).toBeCloseTo((20 * 8) / (3.75 - 1.235), 12);
    expect(imagesPerSecond(bare)).toBeNull();
    // Resumed at step 20: seconds start again; the pair across the resume is skipped.
    const resumed = [...bare.slice(0, 2), { step: 30, loss: 0.25, seconds: 1.0 }, { step: 40, loss: 0.2, seconds: 2.0 }];
    expect(imagesPerSecond(resumed, 8)).toBeCloseTo(((10 + 10) * 8) / (1.265 + 1.0), 12);
    expect(imagesPerSecond([{ step: 10, loss: 1 }], 8)).toBeNull();
  });

  it('loss curves: steps ascending, a step logged twice keeps its last record; several align on one axis', () => {
    const rows = [
      { step: 10, loss: 1 },
      { step: 20, loss: 0.5 },
      { step: 30, loss: 0.4 },
      { step: 20, loss: 0.6 },
      { step: 30, loss: 0.3 },
    ];
    expect(lossCurve(rows)).toEqual({ steps: [10, 20, 30], loss: [1, 0.6, 0.3] });
    expect(alignCurves([{ steps: [10, 20, 30], loss: [1, 0.6, 0.3] }, { steps: [5, 20], loss: [2, 0.7] }])).toEqual([
      [5, 10, 20, 30],
      [null, 1, 0.6, 0.3],
      [2, null, 0.7, null],
    ]);
    expect(alignCurves([])).toEqual([[]]);
  });
});
