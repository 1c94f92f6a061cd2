// The templates section: the list of kinds and locales, and the editor of one template with its
// live preview, validation errors, data fields, versions and test send.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { EditorView } from '@codemirror/view';
import { RequestError } from '../shared/graphql';
import {
  describeUserError,
  type Draft,
  type EmailPreview,
  type EmailTemplate,
  humanKind,
  type StudioApi,
  type TemplateSummary,
  type TemplateVersion,
  type UserError,
} from './api';
import { createEditor, insertAtCursor, type Part, PART_LABELS, PARTS, replaceDoc, revealLocation, showDiagnostics } from './editor';
import { ContextTree } from './context-tree';
import { VersionHistory } from './versions';

interface SectionProps {
  api: StudioApi;
  onAuthFailure: (err: unknown) => boolean;
}

function errorText(err: unknown): string {
  if (err instanceof RequestError) {
    const code = err.code ? ` (${err.code})` : '';
    return `${err.message}${code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export function TemplatesView({ api, onAuthFailure }: SectionProps) {
  const [list, setList] = useState<TemplateSummary[] | null>(null);
  const [listError, setListError] = useState<string | null>(null);
  const [selected, setSelected] = useState<{ kind: string; locale: string } | null>(null);
  // Switching away from unsaved changes asks first (in the page, not with a browser dialog).
  const [dirty, setDirty] = useState(false);
  const [pending, setPending] = useState<{ kind: string; locale: string } | null>(null);
  const discardRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (pending) discardRef.current?.focus();
  }, [pending]);
  const choose = (next: { kind: string; locale: string }) => {
    if (selected?.kind === next.kind && selected.locale === next.locale) return;
    if (dirty) setPending(next);
    else setSelected(next);
  };

  const reload = useCallback(async () => {
    try {
      const templates = await api.listTemplates();
      templates.sort((a, b) => a.kind.localeCompare(b.kind) || a.locale.localeCompare(b.locale));
      setList(templates);
      setListError(null);
      setSelected((cur) => cur ?? (templates[0] ? { kind: templates[0].kind, locale: templates[0].locale } : null));
    } catch (err) {
      if (!onAuthFailure(err)) setListError(errorText(err));
    }
  }, [api, onAuthFailure]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return (
    <div class="templates-layout">
      <section class="template-list" aria-labelledby="template-list-heading">
        <h1 id="template-list-heading">Email templates</h1>
        {listError && (
          <p role="alert" class="error-box">
            Could not load the templates: {listError}
          </p>
        )}
        {list === null && !listError && <p class="muted">Loading…</p>}
        {list && list.length === 0 && <p class="muted">No templates yet.</p>}
        {list && list.length > 0 && (
          <ul>
            {list.map((t) => {
              const current = selected?.kind === t.kind && selected.locale === t.locale;
              return (
                <li key={`${t.kind}/${t.locale}`} class={current ? 'current' : undefined}>
                  <button
                    type="button"
                    class="template-link"
                    aria-current={current ? 'true' : undefined}
                    onClick={() => choose({ kind: t.kind, locale: t.locale })}
                  >
                    {t.kind} ({t.locale})
                  </button>
                  <span class="template-meta">
                    {humanKind(t.kind)} ·{' '}
                    {t.published ? `published v${t.published.version}` : 'not published'}
                    {t.draft && (!t.published || t.draft.version > t.published.version) ? ` · draft v${t.draft.version}` : ''}
                  </span>
                </li>
              );
            })}
          </ul>
        )}
        {pending && (
          <div role="alertdialog" aria-labelledby="discard-title" class="confirm">
            <h2 id="discard-title" class="small-heading">
              Discard your unsaved changes?
            </h2>
            <p class="small">Open {pending.kind} ({pending.locale}) without saving the current template.</p>
            <button
              type="button"
              class="primary"
              ref={discardRef}
              onClick={() => {
                setDirty(false);
                setSelected(pending);
                setPending(null);
              }}
            >
              Discard changes
            </button>{' '}
            <button type="button" class="secondary" onClick={() => setPending(null)}>
              Keep editing
            </button>
          </div>
        )}
      </section>
      {selected ? (
        <TemplateEditor
          key={`${selected.kind}/${selected.locale}`}
          api={api}
          kind={selected.kind}
          locale={selected.locale}
          onAuthFailure={onAuthFailure}
          onTemplateChanged={reload}
          onDirtyChange={setDirty}
        />
      ) : (
        <div class="template-editor" />
      )}
    </div>
  );
}

interface EditorProps extends SectionProps {
  kind: string;
  locale: string;
  onTemplateChanged: () => void;
  onDirtyChange: (dirty: boolean) => void;
}

const EMPTY_DRAFT: Draft = { subject: '', html: '', text: '', dataQuery: '' };

function draftOf(version: TemplateVersion | null | undefined): Draft {
  if (!version) return EMPTY_DRAFT;
  return { subject: version.subject, html: version.html, text: version.text ?? '', dataQuery: version.dataQuery };
}

function sameDraft(a: Draft, b: Draft): boolean {
  return PARTS.every((p) => a[p] === b[p]);
}

/** The version the editor starts from: the draft, else the published one, else the newest. */
function workingVersion(t: EmailTemplate): TemplateVersion | null {
  return t.draft ?? t.published ?? [...t.versions].sort((a, b) => b.version - a.version)[0] ?? null;
}

function TemplateEditor({ api, kind, locale, onAuthFailure, onTemplateChanged, onDirtyChange }: EditorProps) {
  const [template, setTemplate] = useState<EmailTemplate | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
  const [baseline, setBaseline] = useState<Draft>(EMPTY_DRAFT);
  const [activePart, setActivePart] = useState<Part>('html');
  const [problems, setProblems] = useState<UserError[]>([]);
  const [requestProblem, setRequestProblem] = useState<string | null>(null);
  const [status, setStatus] = useState<string>('');
  const [busy, setBusy] = useState(false);
  const [orderNumber, setOrderNumber] = useState('');
  const [preview, setPreview] = useState<EmailPreview | null>(null);
  const [previewStale, setPreviewStale] = useState(false);
  const [previewLoading, setPreviewLoading] = useState(false);
  const [width, setWidth] = useState<'desktop' | 'mobile'>('desktop');
  const [testTo, setTestTo] = useState('');
  const [testStatus, setTestStatus] = useState('');

  const containers = useRef<Partial<Record<Part, HTMLDivElement | null>>>({});
  const views = useRef<Partial<Record<Part, EditorView>>>({});
  const tabRefs = useRef<Partial<Record<Part, HTMLButtonElement | null>>>({});
  const previewSeq = useRef(0);
  const previewAbort = useRef<AbortController | null>(null);

  // Load the template, then create the four editors on its working version.
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const t = await api.template(kind, locale);
        if (cancelled) return;
        if (!t) {
          setLoadError('This template no longer exists.');
          return;
        }
        setTemplate(t);
        const start = draftOf(workingVersion(t));
        setDraft(start);
        setBaseline(start);
      } catch (err) {
        if (!cancelled && !onAuthFailure(err)) setLoadError(errorText(err));
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, kind, locale, onAuthFailure]);

  const loaded = template !== null;
  useEffect(() => {
    if (!loaded) return;
    for (const part of PARTS) {
      const parent = containers.current[part];
      if (!parent || views.current[part]) continue;
      views.current[part] = createEditor({
        part,
        parent,
        doc: draft[part],
        label: `${PART_LABELS[part]} editor`,
        onChange: (value) => setDraft((d) => ({ ...d, [part]: value })),
      });
    }
    return () => {
      for (const part of PARTS) views.current[part]?.destroy();
      views.current = {};
    };
    // The editors are created once per template; later loads go through replaceDoc.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loaded]);

  // Errors with a location become lint diagnostics in the matching editor.
  useEffect(() => {
    for (const part of PARTS) {
      const view = views.current[part];
      if (!view) continue;
      const messages = problems
        .filter((p) => p.location?.part === part)
        .map((p) => ({ line: p.location!.line, column: p.location!.column, message: p.message }));
      showDiagnostics(view, messages);
    }
  }, [problems, loaded]);

  // Live preview, debounced while typing.
  useEffect(() => {
    if (!loaded) return;
    const handle = window.setTimeout(async () => {
      const seq = ++previewSeq.current;
      previewAbort.current?.abort();
      const controller = new AbortController();
      previewAbort.current = controller;
      setPreviewLoading(true);
      try {
        const result = await api.preview(kind, locale, draft, orderNumber, controller.signal);
        if (seq !== previewSeq.current) return;
        setRequestProblem(null);
        setProblems(result.userErrors);
        if (result.email) {
          setPreview(result);
          setPreviewStale(false);
        } else {
          setPreview((prev) => (prev ? { ...prev, context: result.context ?? prev.context } : result));
          setPreviewStale(true);
        }
      } catch (err) {
        if ((err as Error).name === 'AbortError' || seq !== previewSeq.current) return;
        if (!onAuthFailure(err)) {
          setRequestProblem(`Preview failed: ${errorText(err)}`);
          setPreviewStale(true);
        }
      } finally {
        if (seq === previewSeq.current) setPreviewLoading(false);
      }
    }, 400);
    return () => window.clearTimeout(handle);
  }, [api, kind, locale, draft, orderNumber, loaded, onAuthFailure]);

  const dirty = !sameDraft(draft, baseline);
  useEffect(() => onDirtyChange(dirty), [dirty, onDirtyChange]);
  useEffect(() => () => onDirtyChange(false), [onDirtyChange]);

  function applyTemplate(t: EmailTemplate, resetEditors: boolean) {
    setTemplate(t);
    if (resetEditors) {
      const start = draftOf(workingVersion(t));
      for (const part of PARTS) {
        const view = views.current[part];
        if (view) replaceDoc(view, start[part]);
      }
      setDraft(start);
      setBaseline(start);
    }
  }

  async function saveDraft(): Promise<TemplateVersion | null> {
    setStatus('');
    const submitted = draft;
    const result = await api.saveDraft(kind, locale, submitted);
    if (result.userErrors.length > 0 || !result.template) {
      setProblems(result.userErrors);
      setStatus('The draft was not saved.');
      return null;
    }
    setProblems([]);
    setTemplate(result.template);
    setBaseline(submitted);
    const saved = result.template.draft ?? workingVersion(result.template);
    setStatus(`Draft saved as version ${saved?.version ?? '?'}.`);
    onTemplateChanged();
    return saved;
  }

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setRequestProblem(null);
    try {
      await action();
    } catch (err) {
      if (!onAuthFailure(err)) setRequestProblem(errorText(err));
    } finally {
      setBusy(false);
    }
  }

  const onSave = () => run(async () => void (await saveDraft()));

  async function publishVersion(version: number, label: string) {
    const result = await api.publish(kind, locale, version);
    if (result.userErrors.length > 0 || !result.template) {
      setProblems(result.userErrors);
      setStatus(`Version ${version} was not published.`);
      return;
    }
    setProblems([]);
    applyTemplate(result.template, !dirty);
    setStatus(label);
    onTemplateChanged();
  }

  const onPublish = () =>
    run(async () => {
      let version = template?.draft?.version;
      if (dirty) {
        const saved = await saveDraft();
        if (!saved) return;
        version = saved.version;
      }
      if (version == null) {
        setStatus('There is no draft to publish.');
        return;
      }
      await publishVersion(version, `Version ${version} published.`);
    });

  const onRollback = (version: number) =>
    run(async () => {
      await publishVersion(version, `Rolled back: version ${version} is published again.`);
    });

  const onOpenVersion = (v: TemplateVersion) => {
    const content = draftOf(v);
    for (const part of PARTS) {
      const view = views.current[part];
      if (view) replaceDoc(view, content[part]);
    }
    setDraft(content);
    setStatus(`Version ${v.version} is in the editor. Save it as a draft to keep it.`);
  };

  const onSendTest = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      setTestStatus('Sending…');
      // Without a saved draft the server refuses useDraft, so the published version is sent.
      const result = await api.sendTest(kind, locale, testTo.trim(), orderNumber, template?.draft != null);
      if (result.userErrors.length > 0 || !result.communication) {
        setProblems(result.userErrors);
        setTestStatus('The test email was not sent.');
        return;
      }
      const c = result.communication;
      const detail = c.lastError ? ` (${c.lastError})` : '';
      setTestStatus(`Test email to ${c.to}: ${c.status.toLowerCase()}${detail}. Subject: ${c.subject}`);
    }).then(() => setTestStatus((s) => (s === 'Sending…' ? 'The test email was not sent.' : s)));
  };

  function selectTab(part: Part, focus = false) {
    setActivePart(part);
    const view = views.current[part];
    // A hidden editor cannot measure itself; ask once it is shown.
    if (view) requestAnimationFrame(() => view.requestMeasure());
    if (focus) tabRefs.current[part]?.focus();
  }

  function onTabKey(e: KeyboardEvent, part: Part) {
    const i = PARTS.indexOf(part);
    let next: Part | null = null;
    if (e.key === 'ArrowRight') next = PARTS[(i + 1) % PARTS.length];
    else if (e.key === 'ArrowLeft') next = PARTS[(i + PARTS.length - 1) % PARTS.length];
    else if (e.key === 'Home') next = PARTS[0];
    else if (e.key === 'End') next = PARTS[PARTS.length - 1];
    if (next) {
      e.preventDefault();
      selectTab(next, true);
    }
  }

  function goToProblem(p: UserError) {
    const loc = p.location;
    if (!loc || !PARTS.includes(loc.part as Part)) return;
    const part = loc.part as Part;
    selectTab(part);
    const view = views.current[part];
    if (view) requestAnimationFrame(() => revealLocation(view, loc.line, loc.column));
  }

  function insertPath(path: string) {
    const expression = `{{${path}}}`;
    const target: Part = activePart === 'dataQuery' ? 'html' : activePart;
    const view = views.current[target];
    if (activePart !== 'dataQuery' && view) {
      insertAtCursor(view, expression);
      setStatus(`Inserted ${expression} into the ${PART_LABELS[target]} part.`);
    } else {
      setStatus(`Copied ${expression}.`);
    }
    navigator.clipboard?.writeText(expression).catch(() => undefined);
  }

  if (loadError) {
    return (
      <section class="template-editor" aria-labelledby="editor-heading">
        <h2 id="editor-heading">
          {kind} ({locale})
        </h2>
        <p role="alert" class="error-box">
          Could not load this template: {loadError}
        </p>
      </section>
    );
  }

  const problemCount = problems.length + (requestProblem ? 1 : 0);
  const countFor = (part: Part) => problems.filter((p) => p.location?.part === part).length;
  const published = template?.published ?? null;
  const canPublish = !busy && template !== null && (dirty || (template.draft !== null && template.draft.version !== published?.version));

  return (
    <div class="template-editor">
      <section class="editor-column" aria-labelledby="editor-heading">
        <div class="editor-title">
          <h2 id="editor-heading">
            {humanKind(kind)} <span class="muted">({kind}, {locale})</span>
          </h2>
          <p class="muted small">
            {published ? `Published: version ${published.version}` : 'Not published yet'}
            {template?.draft && template.draft.version !== published?.version ? ` · Draft: version ${template.draft.version}` : ''}
            {dirty ? ' · Unsaved changes' : ''}
          </p>
        </div>
        {!loaded && <p class="muted">Loading…</p>}
        <div role="tablist" aria-label="Template parts" class="tabs">
          {PARTS.map((part) => {
            const count = countFor(part);
            return (
              <button
                key={part}
                type="button"
                role="tab"
                id={`tab-${part}`}
                ref={(el) => {
                  tabRefs.current[part] = el;
                }}
                aria-selected={activePart === part}
                aria-controls={`panel-${part}`}
                tabIndex={activePart === part ? 0 : -1}
                onClick={() => selectTab(part)}
                onKeyDown={(e) => onTabKey(e, part)}
              >
                {PART_LABELS[part]}
                {count > 0 && (
                  <span class="tab-badge" aria-hidden="true">
                    {count}
                  </span>
                )}
              </button>
            );
          })}
        </div>
        {PARTS.map((part) => (
          <div
            key={part}
            role="tabpanel"
            id={`panel-${part}`}
            aria-labelledby={`tab-${part}`}
            hidden={activePart !== part}
            class="tab-panel"
          >
            <div class={`editor-host editor-${part}`} ref={(el) => {
                containers.current[part] = el;
              }} />
          </div>
        ))}
        <div class="toolbar">
          <button type="button" onClick={onSave} disabled={busy || !loaded}>
            Save draft
          </button>
          <button type="button" class="primary" onClick={onPublish} disabled={!canPublish}>
            Publish
          </button>
          <p role="status" class="status-text">
            {status}
          </p>
        </div>
        {problemCount > 0 && (
          <div role="alert" class="problems">
            <h3>
              {problemCount === 1 ? '1 problem' : `${problemCount} problems`}
            </h3>
            <ul>
              {requestProblem && <li>{requestProblem}</li>}
              {problems.map((p, i) => (
                <li key={i}>
                  {p.location && PARTS.includes(p.location.part as Part) ? (
                    <button type="button" class="link-button" onClick={() => goToProblem(p)}>
                      {describeUserError(p)}
                    </button>
                  ) : (
                    <span>
                      {describeUserError(p)} <span class="muted">({p.code})</span>
                    </span>
                  )}
                </li>
              ))}
            </ul>
          </div>
        )}
      </section>

      <section class="preview-column" aria-labelledby="preview-heading">
        <h2 id="preview-heading">Preview</h2>
        <div class="preview-controls">
          <div class="field inline">
            <label for="preview-order">Order number</label>
            <input
              id="preview-order"
              type="text"
              placeholder="Sample order"
              value={orderNumber}
              onInput={(e) => setOrderNumber((e.target as HTMLInputElement).value)}
              aria-describedby="preview-order-hint"
            />
          </div>
          <div class="segmented" role="group" aria-label="Preview width">
            <button type="button" aria-pressed={width === 'desktop'} onClick={() => setWidth('desktop')}>
              Desktop
            </button>
            <button type="button" aria-pressed={width === 'mobile'} onClick={() => setWidth('mobile')}>
              Mobile
            </button>
          </div>
        </div>
        <p id="preview-order-hint" class="muted small">
          Leave empty to preview against the built-in sample order.
          {previewLoading ? ' Updating…' : ''}
          {previewStale && preview?.email ? ' Showing the last preview that rendered.' : ''}
        </p>
        {preview?.email ? (
          <>
            <p class="rendered-subject">
              <span class="label">Subject:</span> <span data-testid="rendered-subject">{preview.email.subject}</span>
            </p>
            <div class={`preview-frame ${width}`} tabIndex={0} role="group" aria-label={`${width === 'mobile' ? 'Mobile' : 'Desktop'} width`}>
              <iframe title="Email preview" sandbox="" srcdoc={preview.email.html} />
            </div>
            <h3>Text part</h3>
            <pre class="text-part" data-testid="rendered-text" tabIndex={0}>
              {preview.email.text}
            </pre>
          </>
        ) : (
          <p class="muted">{previewLoading || !loaded ? 'Rendering…' : 'Nothing rendered yet: fix the problems listed.'}</p>
        )}
      </section>

      <section class="fields-column" aria-labelledby="fields-heading">
        <h2 id="fields-heading">Data fields</h2>
        <p class="muted small">
          What the data query returns for this preview. Choose a field to insert its expression into the open part.
        </p>
        {preview?.context != null ? <ContextTree value={preview.context} onPick={insertPath} /> : <p class="muted">No data yet.</p>}
      </section>

      <section class="test-column" aria-labelledby="test-heading">
        <h2 id="test-heading">Send a test email</h2>
        <p class="muted small">
          Sends {template?.draft ? `the saved draft (version ${template.draft.version})` : 'the published version'}
          {orderNumber.trim() ? ` for order ${orderNumber.trim()}` : ' for the sample order'}, marked [TEST].
          {dirty ? ' Save your changes first to include them.' : ''}
        </p>
        <form class="test-form" onSubmit={onSendTest}>
          <div class="field">
            <label for="test-to">Send to</label>
            <input
              id="test-to"
              type="email"
              required
              autoComplete="email"
              value={testTo}
              onInput={(e) => setTestTo((e.target as HTMLInputElement).value)}
            />
          </div>
          <button type="submit" disabled={busy}>
            Send test email
          </button>
        </form>
        <p role="status" class="status-text">
          {testStatus}
        </p>
      </section>

      {template && (
        <VersionHistory template={template} busy={busy} onRollback={onRollback} onOpen={onOpenVersion} />
      )}
    </div>
  );
}
