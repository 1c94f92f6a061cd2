// An expandable tree of the data a template sees; choosing a leaf gives its Handlebars path.
import { useState } from 'preact/hooks';

interface Props {
  value: unknown;
  onPick: (path: string) => void;
}

/** Handlebars addresses array items as `list.[0]` and odd keys as `[key]`. */
function childPath(parent: string, key: string | number): string {
  const segment = typeof key === 'number' ? `[${key}]` : /^[A-Za-z_][\w-]*$/.test(key) ? key : `[${key}]`;
  return parent ? `${parent}.${segment}` : segment;
}

function preview(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}…` : value);
  return String(value);
}

export function ContextTree({ value, onPick }: Props) {
  if (value === null || typeof value !== 'object') {
    return <p class="muted">{preview(value)}</p>;
  }
  return (
    <div class="tree-scroll" tabIndex={0} role="group" aria-label="Data fields">
      <ul class="tree">
      <Children value={value as Record<string, unknown>} path="" depth={0} onPick={onPick} />
      </ul>
    </div>
  );
}

function Children({ value, path, depth, onPick }: { value: object; path: string; depth: number; onPick: (p: string) => void }) {
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v] as [number, unknown])
    : Object.entries(value);
  if (entries.length === 0) return <li class="muted">{Array.isArray(value) ? '(empty list)' : '(empty)'}</li>;
  return (
    <>
      {entries.map(([key, child]) => (
        <Node key={String(key)} name={key} value={child} path={childPath(path, key)} depth={depth} onPick={onPick} />
      ))}
    </>
  );
}

function Node({ name, value, path, depth, onPick }: { name: string | number; value: unknown; path: string; depth: number; onPick: (p: string) => void }) {
  const [open, setOpen] = useState(depth < 1);
  const label = typeof name === 'number' ? `[${name}]` : name;
  if (value !== null && typeof value === 'object') {
    const size = Array.isArray(value) ? `list of ${value.length}` : `${Object.keys(value).length} fields`;
    return (
      <li>
        <button type="button" class="tree-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          <span aria-hidden="true" class="chevron">
            {open ? '▾' : '▸'}
          </span>
          {label}
        </button>{' '}
        <span class="muted small">{size}</span>
        {open && (
          <ul>
            <Children value={value} path={path} depth={depth + 1} onPick={onPick} />
          </ul>
        )}
      </li>
    );
  }
  return (
    <li>
      <button type="button" class="tree-leaf" title={`Insert {{${path}}}`} onClick={() => onPick(path)}>
        {`{{${path}}}`}
      </button>{' '}
      <span class="tree-value">{preview(value)}</span>
    </li>
  );
}
