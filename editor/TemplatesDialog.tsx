import { useMemo, useRef, useState, type DragEvent } from 'react';
import { DEFAULT_TEMPLATE, TEMPLATES, type Template } from '../graph/templates';
import type { Graph } from '../graph/model';
import { buildFromForm, formFields, formValues, formValuesFromConfig, joinEntries, listEntries, type FormField, type FormValues } from './template-form';
import { TRAINED_PRESETS, type TrainedPreset } from './presets';
import type { LoadedPreset } from './presets/load';

/** The tab that lists trained models (not a template id: those are lower-case words). */
const TRAINED_TAB = 'trained-models';

/** One tab's state: the preset picked ('' = the template's defaults) and the form's values. */
interface TabState {
  readonly preset: string;
  readonly values: FormValues;
}

function initialState(t: Template): TabState {
  return { preset: '', values: formValues(formFields(t), t.defaults.kwargs) };
}

/** Templates whose New… tab offers "Import config.json" (their kwargs are a config file people have). */
const IMPORTS_CONFIG: ReadonlySet<string> = new Set(['diffusers']);

/** One select per entry of a list of choices (`down_block_types`), as many as its `lengthOf` field has entries. */
function ListOfChoices({ field, values, onChange }: { field: FormField; values: FormValues; onChange: (v: string) => void }) {
  const list = listEntries(field, values);
  return (
    <label className="field" title={field.help}>
      <span>{field.key}</span>
      {list.map((entry, i) => (
        <select
          key={i}
          data-testid={`tpl-${field.key}-${i}`}
          aria-label={`${field.key} ${i}`}
          value={entry}
          onChange={(e) => onChange(joinEntries(list.map((x, j) => (j === i ? e.target.value : x))))}
        >
          {/* An entry the app does not know (typed into a config) stays visible; Create names it. */}
          {[...(field.options.map(String).includes(entry) ? [] : [entry]), ...field.options.map(String)].map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ))}
    </label>
  );
}

function Field({ field, value, values, onChange }: { field: FormField; value: string | boolean; values: FormValues; onChange: (v: string | boolean) => void }) {
  if (field.kind === 'enums') return <ListOfChoices field={field} values={values} onChange={onChange} />;
  if (field.kind === 'boolean') {
    return (
      <label className="field check" title={field.help}>
        <input type="checkbox" data-testid={`tpl-${field.key}`} checked={value === true} onChange={(e) => onChange(e.target.checked)} />
        <span>{field.key}</span>
      </label>
    );
  }
  return (
    <label className="field" title={field.help}>
      <span>{field.key}</span>
      {field.kind === 'enum' ? (
        <select data-testid={`tpl-${field.key}`} value={String(value)} onChange={(e) => onChange(e.target.value)}>
          {(field.nullable || field.optional) && <option value="">none</option>}
          {field.options.map((o) => (
            <option key={String(o)} value={String(o)}>
              {String(o)}
            </option>
          ))}
        </select>
      ) : (
        <input data-testid={`tpl-${field.key}`} value={String(value)} placeholder={field.placeholder} onChange={(e) => onChange(e.target.value)} />
      )}
    </label>
  );
}

/** The trained models' tab: one entry per model, picked with a radio button. */
function TrainedList({ picked, onPick }: { picked: TrainedPreset; onPick: (p: TrainedPreset) => void }) {
  return (
    <div className="form" role="radiogroup" aria-label="Trained models">
      {TRAINED_PRESETS.map((p) => (
        <label key={p.id} className="field wide check">
          <input type="radio" name="trained-model" checked={p.id === picked.id} onChange={() => onPick(p)} data-testid={`trained-${p.id}`} />
          <span>
            <b>{p.label}</b>
            <br />
            <span className="muted">{p.description}</span>
          </span>
        </label>
      ))}
    </div>
  );
}

/**
 * New…: a tab per registered template, its form generated from the template's schema, and a tab of
 * trained models (a graph with its weights: `onOpenTrained` gets both, fetched and checked).
 */
export function TemplatesDialog({ onCreate, onOpenTrained, onClose }: { onCreate: (g: Graph) => void; onOpenTrained: (p: LoadedPreset) => void; onClose: () => void }) {
  const [tabId, setTabId] = useState<string>(DEFAULT_TEMPLATE.id);
  const [tabs, setTabs] = useState<Readonly<Record<string, TabState>>>({});
  const [error, setError] = useState<string | null>(null);
  const [trained, setTrained] = useState<TrainedPreset>(TRAINED_PRESETS[0]);
  const [loading, setLoading] = useState(false);
  const trainedTab = tabId === TRAINED_TAB;
  const template: Template = TEMPLATES.find((t) => t.id === tabId) ?? DEFAULT_TEMPLATE;
  const fields = useMemo(() => formFields(template), [template]);
  const state = tabs[template.id] ?? initialState(template);
  const setState = (s: TabState) => setTabs({ ...tabs, [template.id]: s });

  const openTrained = async () => {
    setLoading(true);
    setError(null);
    try {
      // The files and the code that checks them load only now, when a model is picked.
      const { loadTrainedPreset } = await import('./presets/load');
      onOpenTrained(await loadTrainedPreset(trained));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoading(false);
    }
  };

  const create = () => {
    if (trainedTab) return void openTrained();
    try {
      onCreate(buildFromForm(template, state.values));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const inputs = fields.filter((f) => f.kind !== 'boolean');
  const checks = fields.filter((f) => f.kind === 'boolean');
  const field = (f: FormField) => (
    <Field key={f.key} field={f} value={state.values[f.key] ?? ''} values={state.values} onChange={(v) => setState({ ...state, values: { ...state.values, [f.key]: v } })} />
  );

  // "Import config.json" (a file picked or dropped): the form takes the config's values, or the error names the problem.
  const fileInput = useRef<HTMLInputElement>(null);
  const importsConfig = !trainedTab && IMPORTS_CONFIG.has(template.id);
  const importConfig = async (file: File | undefined) => {
    if (!file) return;
    try {
      const values = formValuesFromConfig(template, fields, await file.text(), file.name);
      setState({ preset: '', values });
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const onDrop = (e: DragEvent) => {
    if (!importsConfig) return;
    e.preventDefault();
    void importConfig(e.dataTransfer.files[0]);
  };

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
          {TEMPLATES.map((t) => (
            <button
              key={t.id}
              className={!trainedTab && t.id === template.id ? 'active' : ''}
              title={t.description}
              onClick={() => {
                setTabId(t.id);
                setError(null);
              }}
            >
              {t.label}
            </button>
          ))}
          {TRAINED_PRESETS.length > 0 && (
            <button
              className={trainedTab ? 'active' : ''}
              title="A trained model: its graph and its weights"
              data-testid="tab-trained"
              onClick={() => {
                setTabId(TRAINED_TAB);
                setError(null);
              }}
            >
              Trained models
            </button>
          )}
        </nav>
        {trainedTab ? (
          <TrainedList picked={trained} onPick={setTrained} />
        ) : fields.length === 0 ? (
          <p className="muted">{template.description}</p>
        ) : (
          <div className="form" onDragOver={(e) => importsConfig && e.preventDefault()} onDrop={onDrop}>
            {importsConfig && (
              <div className="field wide">
                <button data-testid="tpl-import-config" title="Fill the form from a config.json (pick a file, or drop it on the form)" onClick={() => fileInput.current?.click()}>
                  Import config.json…
                </button>
                <input
                  ref={fileInput}
                  type="file"
                  accept=".json,application/json"
                  hidden
                  data-testid="tpl-import-config-file"
                  onChange={(e) => {
                    void importConfig(e.target.files?.[0]);
                    e.target.value = '';
                  }}
                />
              </div>
            )}
            {template.presets.length > 0 && (
              <label className="field wide">
                <span>Preset</span>
                <select
                  data-testid="tpl-preset"
                  value={state.preset}
                  onChange={(e) => {
                    const p = template.presets.find((c) => c.name === e.target.value);
                    const values = formValues(fields, p ? { ...p.kwargs, image_size: p.imageSize } : template.defaults.kwargs);
                    setState({ preset: p ? p.name : '', values });
                  }}
                >
                  <option value="">{template.defaults.label}</option>
                  {template.presets.map((p) => (
                    <option key={p.name} value={p.name}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {inputs.length > 0 && <div className="grid">{inputs.map(field)}</div>}
            {checks.length > 0 && <div className="grid">{checks.map(field)}</div>}
          </div>
        )}
        {error && <pre className="form-error">{error}</pre>}
        <footer>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" data-testid="tpl-create" onClick={create} disabled={loading}>
            {loading ? 'Loading…' : 'Create'}
          </button>
        </footer>
      </div>
    </div>
  );
}
