// Brand settings: name, logo, primary colour and support contacts, shared by every email's layout
// and the tracking page.
import { useEffect, useState } from 'preact/hooks';
import { RequestError } from '../shared/graphql';
import { textColourOn } from '../shared/colour';
import { type Brand, describeUserError, type StudioApi, type UserError } from './api';

interface Props {
  api: StudioApi;
  onAuthFailure: (err: unknown) => boolean;
}

type Form = Record<keyof Brand, string>;

const FIELDS: { key: keyof Brand; label: string; type: 'text' | 'url' | 'email' | 'tel'; required?: boolean; autoComplete?: string }[] = [
  { key: 'name', label: 'Name', type: 'text', required: true, autoComplete: 'organization' },
  { key: 'logoUrl', label: 'Logo URL', type: 'url' },
  { key: 'supportEmail', label: 'Support email', type: 'email', required: true },
  { key: 'supportPhone', label: 'Support phone', type: 'tel' },
  { key: 'websiteUrl', label: 'Website URL', type: 'url' },
];

function toForm(b: Brand): Form {
  return {
    name: b.name,
    logoUrl: b.logoUrl ?? '',
    primaryColor: b.primaryColor,
    supportEmail: b.supportEmail,
    supportPhone: b.supportPhone ?? '',
    websiteUrl: b.websiteUrl ?? '',
  };
}

/** `<input type="color">` only takes #rrggbb. */
function asHex(colour: string): string {
  const c = colour.trim();
  if (/^#[0-9a-f]{6}$/i.test(c)) return c.toLowerCase();
  const short = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(c);
  if (short) return `#${short[1]}${short[1]}${short[2]}${short[2]}${short[3]}${short[3]}`.toLowerCase();
  return '#000000';
}

export function BrandView({ api, onAuthFailure }: Props) {
  const [form, setForm] = useState<Form | null>(null);
  const [saved, setSaved] = useState<Form | null>(null);
  const [errors, setErrors] = useState<UserError[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api
      .brand()
      .then((b) => {
        setForm(toForm(b));
        setSaved(toForm(b));
      })
      .catch((err) => {
        if (!onAuthFailure(err)) setProblem(err instanceof Error ? err.message : String(err));
      });
  }, [api, onAuthFailure]);

  async function submit(e: Event) {
    e.preventDefault();
    if (!form || !saved) return;
    setBusy(true);
    setStatus('');
    setProblem(null);
    // Send only what changed; an emptied optional field is cleared with an empty string.
    const input: Record<string, string> = {};
    for (const key of Object.keys(form) as (keyof Brand)[]) {
      if (form[key] !== saved[key]) input[key] = form[key].trim();
    }
    try {
      if (Object.keys(input).length === 0) {
        setStatus('Nothing to save.');
        return;
      }
      const result = await api.updateBrand(input);
      setErrors(result.userErrors);
      if (result.brand && result.userErrors.length === 0) {
        setForm(toForm(result.brand));
        setSaved(toForm(result.brand));
        setStatus('Brand saved.');
      } else {
        setStatus('The brand was not saved.');
      }
    } catch (err) {
      if (!onAuthFailure(err)) setProblem(err instanceof RequestError ? `${err.message}${err.code ? ` (${err.code})` : ''}` : String(err));
    } finally {
      setBusy(false);
    }
  }

  const set = (key: keyof Brand) => (e: Event) => setForm((f) => (f ? { ...f, [key]: (e.target as HTMLInputElement).value } : f));
  const fieldError = (key: string) => errors.find((e) => e.field?.includes(key));
  const problems = [...(problem ? [problem] : []), ...errors.map(describeUserError)];

  return (
    <div class="brand-view">
      <h1>Brand</h1>
      <p class="muted">Used by every email's layout and by the order tracking page.</p>
      {!form && !problem && <p class="muted">Loading…</p>}
      {problems.length > 0 && (
        <div role="alert" class="problems">
          <ul>
            {problems.map((p, i) => (
              <li key={i}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      {form && (
        <div class="brand-grid">
          <form class="brand-form" onSubmit={submit} noValidate>
            {FIELDS.slice(0, 2).map((f) => (
              <Field key={f.key} f={f} value={form[f.key]} onInput={set(f.key)} error={fieldError(f.key)?.message} />
            ))}
            <div class="field">
              <label for="brand-primaryColor">Primary colour</label>
              <div class="colour-row">
                <input id="brand-primaryColor" type="color" value={asHex(form.primaryColor)} onInput={set('primaryColor')} />
                <code>{form.primaryColor}</code>
              </div>
              {fieldError('primaryColor') && <p class="field-error">{fieldError('primaryColor')!.message}</p>}
            </div>
            {FIELDS.slice(2).map((f) => (
              <Field key={f.key} f={f} value={form[f.key]} onInput={set(f.key)} error={fieldError(f.key)?.message} />
            ))}
            <div class="toolbar">
              <button type="submit" class="primary" disabled={busy}>
                Save brand
              </button>
              <p role="status" class="status-text">
                {status}
              </p>
            </div>
          </form>
          <section aria-labelledby="brand-sample-heading" class="brand-sample">
            <h2 id="brand-sample-heading">Sample</h2>
            <div class="brand-sample-bar" style={{ background: asHex(form.primaryColor), color: textColourOn(asHex(form.primaryColor)) }}>
              {form.logoUrl ? <img src={form.logoUrl} alt={form.name} /> : <span>{form.name}</span>}
            </div>
            <p class="small">
              Text on the primary colour is shown in {textColourOn(asHex(form.primaryColor)) === '#ffffff' ? 'white' : 'black'} for contrast.
            </p>
          </section>
        </div>
      )}
    </div>
  );
}

function Field({
  f,
  value,
  onInput,
  error,
}: {
  f: (typeof FIELDS)[number];
  value: string;
  onInput: (e: Event) => void;
  error?: string;
}) {
  const id = `brand-${f.key}`;
  return (
    <div class="field">
      <label for={id}>{f.label}</label>
      <input
        id={id}
        type={f.type as 'text'}
        value={value}
        required={f.required}
        autoComplete={f.autoComplete ?? 'off'}
        onInput={onInput}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      {error && (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}
