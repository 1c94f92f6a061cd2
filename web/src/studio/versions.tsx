// Version history of a template: a line diff of any version against the published one, and
// rollback (publishing an older version again) after a confirmation.
import { useEffect, useRef, useState } from 'preact/hooks';
import { diffLines } from 'diff';
import { type EmailTemplate, formatDateTime, type TemplateVersion } from './api';
import { type Part, PART_LABELS, PARTS } from './editor';

interface Props {
  template: EmailTemplate;
  busy: boolean;
  onRollback: (version: number) => void;
  onOpen: (version: TemplateVersion) => void;
}

function partText(v: TemplateVersion | null, part: Part): string {
  if (!v) return '';
  return (part === 'text' ? v.text ?? '' : v[part]) ?? '';
}

export function VersionHistory({ template, busy, onRollback, onOpen }: Props) {
  const [compare, setCompare] = useState<number | null>(null);
  const [confirming, setConfirming] = useState<number | null>(null);
  const versions = [...template.versions].sort((a, b) => b.version - a.version);
  const published = template.published;
  const compared = versions.find((v) => v.version === compare) ?? null;
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (confirming !== null) confirmRef.current?.focus();
  }, [confirming]);

  return (
    <section class="versions-column" aria-labelledby="versions-heading">
      <h2 id="versions-heading">Versions</h2>
      {versions.length === 0 ? (
        <p class="muted">No versions saved yet.</p>
      ) : (
        <div class="table-scroll" tabIndex={0} role="group" aria-label="Versions table">
          <table>
            <caption class="visually-hidden">Versions of this template, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Author</th>
                <th scope="col">Saved</th>
                <th scope="col">Published</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => {
                const isLive = published?.version === v.version;
                return (
                  <tr key={v.version} class={isLive ? 'live' : undefined}>
                    <th scope="row">
                      {v.version}
                      {isLive && <>{' '}<span class="badge">Live</span></>}
                      {template.draft?.version === v.version && !isLive && <>{' '}<span class="badge draft">Draft</span></>}
                    </th>
                    <td>{v.author}</td>
                    <td>{formatDateTime(v.createdAt)}</td>
                    <td>{v.publishedAt ? formatDateTime(v.publishedAt) : '—'}</td>
                    <td class="actions">
                      <button
                        type="button"
                        class="small-button"
                        aria-pressed={compare === v.version}
                        onClick={() => setCompare(compare === v.version ? null : v.version)}
                      >
                        Compare version {v.version}
                      </button>
                      <button type="button" class="small-button" onClick={() => onOpen(v)}>
                        Open version {v.version} in editor
                      </button>
                      {!isLive && published && v.version < published.version && (
                        <button type="button" class="small-button" disabled={busy} onClick={() => setConfirming(v.version)}>
                          Roll back to version {v.version}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      {confirming !== null && (
        <div role="alertdialog" aria-labelledby="rollback-title" aria-describedby="rollback-text" class="confirm">
          <h3 id="rollback-title">Roll back to version {confirming}?</h3>
          <p id="rollback-text">
            Version {confirming} will be published again and used for every email of this kind from now on
            {published ? `, replacing version ${published.version}` : ''}.
          </p>
          <button
            type="button"
            class="primary"
            disabled={busy}
            ref={confirmRef}
            onClick={() => {
              const v = confirming;
              setConfirming(null);
              onRollback(v);
            }}
          >
            Confirm rollback
          </button>{' '}
          <button type="button" class="secondary" onClick={() => setConfirming(null)}>
            Cancel
          </button>
        </div>
      )}

      {compared && (
        <section class="diff" aria-labelledby="diff-heading">
          <h3 id="diff-heading">
            Version {compared.version} against {published ? `published version ${published.version}` : 'nothing published'}
          </h3>
          <DiffView from={published} to={compared} />
        </section>
      )}
    </section>
  );
}

function DiffView({ from, to }: { from: TemplateVersion | null; to: TemplateVersion }) {
  const changed = PARTS.filter((p) => partText(from, p) !== partText(to, p));
  if (changed.length === 0) return <p>No differences.</p>;
  return (
    <>
      {changed.map((part) => {
        const chunks = diffLines(partText(from, part), partText(to, part));
        return (
          <div key={part} class="diff-part">
            <h4>{PART_LABELS[part]}</h4>
            <pre class="diff-lines" tabIndex={0}>
              {chunks.map((c, i) => {
                const lines = c.value.replace(/\n$/, '').split('\n');
                const text = lines.map((l) => `${c.added ? '+ ' : c.removed ? '- ' : '  '}${l}`).join('\n') + '\n';
                if (c.added) return <ins key={i}>{text}</ins>;
                if (c.removed) return <del key={i}>{text}</del>;
                return <span key={i}>{text}</span>;
              })}
            </pre>
          </div>
        );
      })}
    </>
  );
}
