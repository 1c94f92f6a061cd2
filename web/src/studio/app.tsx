// The studio shell: sign-in with a pasted JWT (kept in sessionStorage), navigation, sections.
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { RequestError } from '../shared/graphql';
import { StudioApi } from './api';
import { TemplatesView } from './templates';
import { BrandView } from './brand';
import type { DashboardView as DashboardViewType } from './dashboard';

const TOKEN_KEY = 'touchpoint.studio.token';

type Section = 'templates' | 'brand' | 'dashboard';
const SECTIONS: { id: Section; label: string }[] = [
  { id: 'templates', label: 'Templates' },
  { id: 'brand', label: 'Brand' },
  { id: 'dashboard', label: 'Dashboard' },
];

/** Agents see only the dashboard; marketing and admins see every section. */
function sectionsFor(role: string | undefined): { id: Section; label: string }[] {
  return role?.toLowerCase() === 'agent' ? SECTIONS.filter((s) => s.id === 'dashboard') : SECTIONS;
}

function sectionFromHash(): Section {
  const id = location.hash.replace(/^#\/?/, '');
  return SECTIONS.some((s) => s.id === id) ? (id as Section) : 'templates';
}

interface Claims {
  sub?: string;
  role?: string;
  exp?: number;
}

function decodeClaims(token: string): Claims | null {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    return JSON.parse(json) as Claims;
  } catch {
    return null;
  }
}

function refusalMessage(err: unknown): string {
  if (err instanceof RequestError && err.isAuthFailure) {
    return err.code === 'FORBIDDEN'
      ? 'This token was refused: its role may not use the template studio (FORBIDDEN). Sign in with a marketing or admin token (or an agent token, for the dashboard).'
      : 'This token was refused: it is invalid or has expired (UNAUTHENTICATED). Paste a new token.';
  }
  return err instanceof Error ? err.message : String(err);
}

export function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [signInError, setSignInError] = useState<string | null>(null);
  const [section, setSection] = useState<Section>(sectionFromHash);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => {
    const onHash = () => setSection(sectionFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const api = useMemo(() => (token ? new StudioApi(token) : null), [token]);
  const claims = useMemo(() => (token ? decodeClaims(token) : null), [token]);
  const sections = sectionsFor(claims?.role);
  // A section the role may not use (e.g. Templates for an agent) falls back to its first one.
  const shown: Section = sections.some((s) => s.id === section) ? section : sections[0].id;

  useEffect(() => {
    const label = SECTIONS.find((s) => s.id === shown)?.label ?? '';
    document.title = token ? `${label} · Template studio · Touchpoint` : 'Sign in · Template studio · Touchpoint';
  }, [shown, token]);

  const signOut = useCallback((reason?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setSignInError(reason ?? null);
  }, []);

  /** Any request refused for the token ends the session with a clear message. */
  const onAuthFailure = useCallback(
    (err: unknown) => {
      if (err instanceof RequestError && err.isAuthFailure) {
        signOut(refusalMessage(err));
        return true;
      }
      return false;
    },
    [signOut],
  );

  if (!api) {
    return (
      <SignIn
        error={signInError}
        onSignedIn={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setSignInError(null);
          setToken(t);
        }}
        onError={setSignInError}
      />
    );
  }

  return (
    <div class="studio">
      <a class="skip-link" href="#studio-main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>
        Skip to content
      </a>
      <header class="studio-header">
        <p class="studio-brand">
          Touchpoint <span>Template studio</span>
        </p>
        <nav aria-label="Studio sections" class="studio-nav">
          <ul>
            {sections.map((s) => (
              <li key={s.id}>
                <a href={`#/${s.id}`} aria-current={shown === s.id ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="studio-user">
          {claims?.sub && (
            <span class="muted">
              Signed in as {claims.sub}
              {claims.role ? ` (${claims.role})` : ''}
            </span>
          )}
          <button type="button" class="secondary" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="studio-main" ref={mainRef} tabIndex={-1}>
        {shown === 'templates' && <TemplatesView api={api} onAuthFailure={onAuthFailure} />}
        {shown === 'brand' && <BrandView api={api} onAuthFailure={onAuthFailure} />}
        {shown === 'dashboard' && <LazyDashboard api={api} onAuthFailure={onAuthFailure} />}
      </main>
    </div>
  );
}

/** The dashboard (and Chart.js) is a separate chunk, loaded when first shown. */
function LazyDashboard(props: { api: StudioApi; onAuthFailure: (err: unknown) => boolean }) {
  const [View, setView] = useState<typeof DashboardViewType | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    import('./dashboard')
      .then((m) => live && setView(() => m.DashboardView))
      .catch((err) => live && setFailed(err instanceof Error ? err.message : String(err)));
    return () => {
      live = false;
    };
  }, []);
  if (failed) {
    return (
      <p role="alert" class="error-box">
        The dashboard could not be loaded: {failed}
      </p>
    );
  }
  if (!View) {
    return (
      <p role="status" class="status-text">
        Loading the dashboard…
      </p>
    );
  }
  return <View {...props} />;
}

interface SignInProps {
  error: string | null;
  onSignedIn: (token: string) => void;
  onError: (message: string | null) => void;
}

function SignIn({ error, onSignedIn, onError }: SignInProps) {
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const token = value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      onError('Paste a token to sign in.');
      return;
    }
    setBusy(true);
    onError(null);
    try {
      // Agents, marketing and admins may read experienceMetrics: a cheap check that this token works.
      await new StudioApi(token).probe();
      onSignedIn(token);
    } catch (err) {
      onError(refusalMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="studio signin-page">
      <header class="studio-header">
        <p class="studio-brand">
          Touchpoint <span>Template studio</span>
        </p>
      </header>
      <main id="studio-main">
        <h1>Sign in to the template studio</h1>
        <p class="muted">
          Paste a marketing or admin token (a JWT), or an agent token for the dashboard. It is kept only in this browser tab until you sign out.
        </p>
        <form class="signin" onSubmit={submit}>
          <label for="token">Token</label>
          <textarea
            id="token"
            name="token"
            rows={4}
            spellcheck={false}
            autoComplete="off"
            value={value}
            onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)}
            aria-describedby={error ? 'signin-error' : undefined}
          />
          <div>
            <button type="submit" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </div>
        </form>
        {error && (
          <p role="alert" id="signin-error" class="error-box">
            {error}
          </p>
        )}
      </main>
    </div>
  );
}
