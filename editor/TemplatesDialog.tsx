import { useMemo, useRef, useState, type DragEvent } from 'react';
import { DEFAULT_TEMPLATE, TEMPLATES, type Template } from '../graph/templates';
import type { Graph } from '../graph/model';
import { buildFromForm, formFields, formValues, formVariants, importConfig, importsConfig as offersImport, joinEntries, listEntries, variantFor, type FormField, type FormValues, type FormVariant } from './template-form';
import { TRAINED_PRESETS, type TrainedPreset } from './presets';
import type { LoadedPreset } from './presets/load';
import { axesOf, buildSweep, initialSweepText, planSweep, sweepableFields, sweepPlaceholder, SWEEP_LIMIT, type PlannedVariant, type SweepRow } from './sweep';

/** What a sweep hands over: one graph per combination, with its name. */
export type SweepVariants = readonly { readonly name: string; readonly graph: Graph }[];

/** The tab that lists trained models (not a template id: those are lower-case words). */
const TRAINED_TAB = 'trained-models';

/**
 * One tab's state: the preset picked ('' = the template's defaults), the form shown (the model
 * class, for a template with several), the form's values, and a note on what an imported config lacked.
 */
interface TabState {
  readonly preset: string;
  readonly variant: string;
  readonly values: FormValues;
  readonly note: string | null;
}

function initialState(t: Template): TabState {
  const v = variantFor(t, t.defaults.kwargs);
  return { preset: '', variant: v.id, values: formValues(formFields(v), t.defaults.kwargs), note: null };
}

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

const NO_ROWS: readonly SweepRow[] = [
  { key: '', text: '' },
  { key: '', text: '' },
];

/**
 * "Sweep…": one or two kwargs of the form, each with a list of values; the preview shows how many
 * variants the product makes and their names, or what is wrong (a value, the cap); "Create N
 * variants" builds each one and hands the list over, or names each combination that fails.
 */
function SweepPanel({
  form,
  fields,
  values,
  prefix,
  onCreateVariants,
}: {
  form: FormVariant;
  fields: readonly FormField[];
  values: FormValues;
  prefix: string;
  onCreateVariants: (list: SweepVariants) => void;
}) {
  const [rows, setRows] = useState<readonly SweepRow[]>(NO_ROWS);
  const [buildError, setBuildError] = useState<string | null>(null);
  const offered = useMemo(() => sweepableFields(fields), [fields]);
  const preview = useMemo((): { plan: PlannedVariant[] } | { error: string } => {
    try {
      return { plan: planSweep(prefix, values, axesOf(fields, rows), SWEEP_LIMIT) };
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  }, [prefix, values, fields, rows]);
  const setRow = (i: number, row: SweepRow) => {
    setRows(rows.map((r, j) => (j === i ? row : r)));
    setBuildError(null);
  };
  const create = () => {
    if (!('plan' in preview)) return;
    try {
      onCreateVariants(buildSweep(form, preview.plan));
    } catch (e) {
      setBuildError(e instanceof Error ? e.message : String(e));
    }
  };
  const count = 'plan' in preview ? preview.plan.length : 0;
  return (
    <section className="sweep" data-testid="sweep-panel" aria-label="Sweep">
      <p className="muted">
        Vary one or two kwargs: numbers comma-separated (64, 96, 128), lists in brackets ([2]; [2, 4]). At most {SWEEP_LIMIT} variants; the other kwargs keep the form's values.
      </p>
      {rows.map((row, i) => {
        const field = offered.find((f) => f.key === row.key);
        return (
          <div className="sweep-row" key={i}>
            <select
              data-testid={`sweep-key-${i}`}
              aria-label={`kwarg ${i + 1}`}
              value={row.key}
              onChange={(e) => {
                const f = offered.find((x) => x.key === e.target.value);
                setRow(i, { key: e.target.value, text: f ? initialSweepText(f, values) : '' });
              }}
            >
              <option value="">{i === 0 ? 'choose a kwarg' : 'no second kwarg'}</option>
              {offered.map((f) => (
                <option key={f.key} value={f.key}>
                  {f.key}
                </option>
              ))}
            </select>
            <input
              data-testid={`sweep-values-${i}`}
              aria-label={`values ${i + 1}`}
              disabled={!field}
              value={row.text}
              placeholder={field ? sweepPlaceholder(field) : ''}
              onChange={(e) => setRow(i, { ...row, text: e.target.value })}
            />
          </div>
        );
      })}
      {'plan' in preview ? (
        <div data-testid="sweep-preview">
          <b data-testid="sweep-count">{count}</b> variant{count === 1 ? '' : 's'}:
          <ul className="sweep-names">
            {preview.plan.map((p) => (
              <li key={p.name}>{p.name}</li>
            ))}
          </ul>
        </div>
      ) : (
        <p className="form-error" data-testid="sweep-error">
          {preview.error}
        </p>
      )}
      {buildError && (
        <pre className="form-error" data-testid="sweep-build-error">
          {buildError}
        </pre>
      )}
      <button className="primary" data-testid="sweep-create" disabled={count === 0} onClick={create}>
        Create {count} variant{count === 1 ? '' : 's'}
      </button>
    </section>
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
 * trained models (a graph with its weights: `onOpenTrained` gets both, fetched and checked). With
 * `onCreateVariants`, "Sweep…" makes several variants of the form at once.
 */
export function TemplatesDialog({
  onCreate,
  onOpenTrained,
  onClose,
  onCreateVariants,
}: {
  onCreate: (g: Graph) => void;
  onOpenTrained: (p: LoadedPreset) => void;
  onClose: () => void;
  onCreateVariants?: (list: SweepVariants) => void;
}) {
  const [sweeping, setSweeping] = useState(false);
  const [tabId, setTabId] = useState<string>(DEFAULT_TEMPLATE.id);
  const [tabs, setTabs] = useState<Readonly<Record<string, TabState>>>({});
  const [error, setError] = useState<string | null>(null);
  const [trained, setTrained] = useState<TrainedPreset>(TRAINED_PRESETS[0]);
  const [loading, setLoading] = useState(false);
  const trainedTab = tabId === TRAINED_TAB;
  const template: Template = TEMPLATES.find((t) => t.id === tabId) ?? DEFAULT_TEMPLATE;
  const variants = useMemo(() => formVariants(template), [template]);
  const state = tabs[template.id] ?? initialState(template);
  const variant: FormVariant = variants.find((v) => v.id === state.variant) ?? variants[0]!;
  const fields = useMemo(() => formFields(variant), [variant]);
  const setState = (s: TabState) => setTabs({ ...tabs, [template.id]: s });
  /** A preset (or, for '', the defaults) in the form of its model class. */
  const presetState = (name: string): TabState => {
    const p = template.presets.find((c) => c.name === name);
    const kwargs: Readonly<Record<string, unknown>> = p ? { ...p.kwargs, image_size: p.imageSize } : template.defaults.kwargs;
    const v = variantFor(template, kwargs);
    return { preset: p ? p.name : '', variant: v.id, values: formValues(formFields(v), kwargs), note: null };
  };
  /** Another model class: its first preset, or its form's defaults. */
  const classState = (id: string): TabState => {
    const v = variants.find((c) => c.id === id) ?? variants[0]!;
    if (v === variants[0]) return presetState('');
    const p = template.presets.find((c) => v.matches(c.kwargs as Readonly<Record<string, unknown>>));
    return p ? presetState(p.name) : { preset: '', variant: v.id, values: formValues(formFields(v), v.template.defaults.kwargs), note: null };
  };

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
      onCreate(buildFromForm(variant, state.values));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const canSweep = !trainedTab && sweepableFields(fields).length > 0;
  const inputs = fields.filter((f) => f.kind !== 'boolean');
  const checks = fields.filter((f) => f.kind === 'boolean');
  const field = (f: FormField) => (
    <Field key={f.key} field={f} value={state.values[f.key] ?? ''} values={state.values} onChange={(v) => setState({ ...state, values: { ...state.values, [f.key]: v } })} />
  );

  // "Import config.json" (a file picked or dropped): the form takes the config's values, or the error names the problem.
  const fileInput = useRef<HTMLInputElement>(null);
  const importsConfig = !trainedTab && offersImport(template);
  const readConfig = async (file: File | undefined) => {
    if (!file) return;
    try {
      const { variant: v, values, missing } = importConfig(template, await file.text(), file.name);
      const note = missing.length > 0 ? `${file.name} does not give ${missing.join(', ')}: fill ${missing.length > 1 ? 'them' : 'it'} in (no default is assumed).` : null;
      setState({ preset: '', variant: v.id, values, note });
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const onDrop = (e: DragEvent) => {
    if (!importsConfig) return;
    e.preventDefault();
    void readConfig(e.dataTransfer.files[0]);
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
                setSweeping(false);
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
                setSweeping(false);
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
                    void readConfig(e.target.files?.[0]);
                    e.target.value = '';
                  }}
                />
              </div>
            )}
            {template.presets.length > 0 && (
              <label className="field wide">
                <span>Preset</span>
                <select data-testid="tpl-preset" value={state.preset} onChange={(e) => setState(presetState(e.target.value))}>
                  <option value="">{template.defaults.label}</option>
                  {template.presets.map((p) => (
                    <option key={p.name} value={p.name}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {variants.length > 1 && (
              <label className="field wide" title="The model class the config is for (its _class_name): each has its own keys">
                <span>Model class</span>
                <select data-testid="tpl-class" value={variant.id} onChange={(e) => setState(classState(e.target.value))}>
                  {variants.map((v) => (
                    <option key={v.id} value={v.id}>
                      {v.id}
                    </option>
                  ))}
                </select>
              </label>
            )}
            {state.note && (
              <p className="notice field wide" data-testid="tpl-note">
                {state.note}
              </p>
            )}
            {inputs.length > 0 && <div className="grid">{inputs.map(field)}</div>}
            {checks.length > 0 && <div className="grid">{checks.map(field)}</div>}
          </div>
        )}
        {sweeping && canSweep && onCreateVariants && (
          <SweepPanel
            key={`${template.id}/${variant.id}`}
            form={variant}
            fields={fields}
            values={state.values}
            prefix={state.preset !== '' ? `${template.id} ${state.preset}` : template.id}
            onCreateVariants={onCreateVariants}
          />
        )}
        {error && <pre className="form-error">{error}</pre>}
        <footer>
          {canSweep && onCreateVariants && (
            <button data-testid="tpl-sweep" className={sweeping ? 'active' : ''} title="Vary one or two kwargs over listed values: one variant per combination" onClick={() => setSweeping(!sweeping)}>
              Sweep…
            </button>
          )}
          <button onClick={onClose}>Cancel</button>
          <button className="primary" data-testid="tpl-create" onClick={create} disabled={loading}>
            {loading ? 'Loading…' : 'Create'}
          </button>
        </footer>
      </div>
    </div>
  );
}
