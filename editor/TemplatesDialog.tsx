import { useState } from 'react';
import published from '../test/reference/published-configs.json';
import { iddpm, vanilla, TemplateError } from '../graph/templates';
import { GraphBuilder } from '../graph/builder';
import type { Graph } from '../graph/model';
import { DEFAULT_IDDPM } from './store';

interface PublishedConfig {
  readonly name: string;
  readonly model_class: string;
  readonly image_size: number;
  readonly kwargs: Readonly<Record<string, unknown>>;
}
const PRESETS = (published.configs as readonly PublishedConfig[]).filter((c) => c.model_class === 'UNetModel');

interface IddpmForm {
  image_size: string;
  in_channels: string;
  model_channels: string;
  out_channels: string;
  num_res_blocks: string;
  attention_resolutions: string;
  channel_mult: string;
  dropout: string;
  num_heads: string;
  num_head_channels: string;
  num_heads_upsample: string;
  num_classes: string;
  use_scale_shift_norm: boolean;
  resblock_updown: boolean;
  use_new_attention_order: boolean;
  conv_resample: boolean;
}

const list = (v: unknown) => (Array.isArray(v) ? v.join(', ') : String(v ?? ''));
function formFrom(k: Readonly<Record<string, unknown>>, size: number): IddpmForm {
  const s = (key: string, d: string) => (k[key] === undefined || k[key] === null ? d : String(k[key]));
  const b = (key: string, d: boolean) => (typeof k[key] === 'boolean' ? (k[key] as boolean) : d);
  return {
    image_size: String(size),
    in_channels: s('in_channels', '3'),
    model_channels: s('model_channels', '64'),
    out_channels: s('out_channels', '3'),
    num_res_blocks: s('num_res_blocks', '2'),
    attention_resolutions: list(k.attention_resolutions),
    channel_mult: list(k.channel_mult),
    dropout: s('dropout', '0'),
    num_heads: s('num_heads', '1'),
    num_head_channels: s('num_head_channels', '-1'),
    num_heads_upsample: s('num_heads_upsample', '-1'),
    num_classes: s('num_classes', ''),
    use_scale_shift_norm: b('use_scale_shift_norm', false),
    resblock_updown: b('resblock_updown', false),
    use_new_attention_order: b('use_new_attention_order', false),
    conv_resample: b('conv_resample', true),
  };
}

const nums = (s: string) => s.split(/[\s,]+/).filter((x) => x !== '').map(Number);

function buildIddpm(f: IddpmForm): Graph {
  const kwargs = {
    in_channels: Number(f.in_channels),
    model_channels: Number(f.model_channels),
    out_channels: Number(f.out_channels),
    num_res_blocks: Number(f.num_res_blocks),
    attention_resolutions: nums(f.attention_resolutions),
    channel_mult: nums(f.channel_mult),
    dropout: Number(f.dropout),
    num_heads: Number(f.num_heads),
    num_head_channels: Number(f.num_head_channels),
    num_heads_upsample: Number(f.num_heads_upsample),
    num_classes: f.num_classes.trim() === '' ? null : Number(f.num_classes),
    use_scale_shift_norm: f.use_scale_shift_norm,
    resblock_updown: f.resblock_updown,
    use_new_attention_order: f.use_new_attention_order,
    conv_resample: f.conv_resample,
  };
  return iddpm(kwargs, Number(f.image_size));
}

export function emptyGraph(): Graph {
  const b = new GraphBuilder();
  const x = b.add('ImageInput', 'x', { channels: 3, height: 32, width: 32 });
  b.add('Output', 'output', {}, { x });
  return b.build('untitled');
}

type Tab = 'iddpm' | 'vanilla' | 'empty';

export function TemplatesDialog({ onCreate, onClose }: { onCreate: (g: Graph) => void; onClose: () => void }) {
  const [tab, setTab] = useState<Tab>('iddpm');
  const [form, setForm] = useState<IddpmForm>(() => formFrom(DEFAULT_IDDPM, 32));
  const [preset, setPreset] = useState('');
  const [van, setVan] = useState({ n_channels: '3', n_classes: '2', widths: '64, 128, 256, 512, 1024', image_size: '256' });
  const [error, setError] = useState<string | null>(null);

  const create = () => {
    try {
      const g =
        tab === 'iddpm'
          ? buildIddpm(form)
          : tab === 'vanilla'
            ? vanilla({ n_channels: Number(van.n_channels), n_classes: Number(van.n_classes), widths: nums(van.widths) }, Number(van.image_size))
            : emptyGraph();
      onCreate(g);
    } catch (e) {
      if (e instanceof TemplateError) setError(e.message);
      else setError(e instanceof Error ? e.message : String(e));
    }
  };

  const text = (key: keyof IddpmForm, label: string, hint?: string) => (
    <label className="field" key={key}>
      <span>{label}</span>
      <input
        data-testid={`tpl-${key}`}
        value={String(form[key])}
        placeholder={hint}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
      />
    </label>
  );
  const check = (key: keyof IddpmForm, label: string) => (
    <label className="field check" key={key}>
      <input type="checkbox" checked={form[key] === true} onChange={(e) => setForm({ ...form, [key]: e.target.checked })} />
      <span>{label}</span>
    </label>
  );

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="modal" role="dialog" aria-label="New from template" data-testid="templates-dialog">
        <header>
          <h2>New from template</h2>
          <button className="icon" onClick={onClose} aria-label="Close">
            ×
          </button>
        </header>
        <nav className="tabs">
          {(
            [
              ['iddpm', 'iDDPM UNetModel'],
              ['vanilla', 'Classic UNet'],
              ['empty', 'Empty canvas'],
            ] as const
          ).map(([t, label]) => (
            <button key={t} className={tab === t ? 'active' : ''} onClick={() => { setTab(t); setError(null); }}>
              {label}
            </button>
          ))}
        </nav>
        {tab === 'iddpm' && (
          <div className="form">
            <label className="field wide">
              <span>Preset</span>
              <select
                data-testid="tpl-preset"
                value={preset}
                onChange={(e) => {
                  setPreset(e.target.value);
                  const c = PRESETS.find((p) => p.name === e.target.value);
                  setForm(c ? formFrom(c.kwargs, c.image_size) : formFrom(DEFAULT_IDDPM, 32));
                }}
              >
                <option value="">Small CIFAR-10-style (64 ch, 32×32)</option>
                {PRESETS.map((p) => (
                  <option key={p.name} value={p.name}>
                    {p.name}
                  </option>
                ))}
              </select>
            </label>
            <div className="grid">
              {text('image_size', 'image_size')}
              {text('in_channels', 'in_channels')}
              {text('out_channels', 'out_channels')}
              {text('model_channels', 'model_channels')}
              {text('channel_mult', 'channel_mult', '1, 2, 2')}
              {text('num_res_blocks', 'num_res_blocks')}
              {text('attention_resolutions', 'attention_resolutions', '2, 4')}
              {text('dropout', 'dropout')}
              {text('num_heads', 'num_heads')}
              {text('num_head_channels', 'num_head_channels', '-1')}
              {text('num_heads_upsample', 'num_heads_upsample', '-1')}
              {text('num_classes', 'num_classes', 'none')}
            </div>
            <div className="grid">
              {check('use_scale_shift_norm', 'use_scale_shift_norm')}
              {check('resblock_updown', 'resblock_updown')}
              {check('use_new_attention_order', 'use_new_attention_order')}
              {check('conv_resample', 'conv_resample')}
            </div>
          </div>
        )}
        {tab === 'vanilla' && (
          <div className="form grid">
            {(['n_channels', 'n_classes', 'widths', 'image_size'] as const).map((k) => (
              <label className="field" key={k}>
                <span>{k}</span>
                <input value={van[k]} onChange={(e) => setVan({ ...van, [k]: e.target.value })} />
              </label>
            ))}
          </div>
        )}
        {tab === 'empty' && <p className="muted">An image input wired to the output; build from there.</p>}
        {error && <pre className="form-error">{error}</pre>}
        <footer>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" data-testid="tpl-create" onClick={create}>
            Create
          </button>
        </footer>
      </div>
    </div>
  );
}
