// CodeMirror 6 editors for the four parts of a template, with syntax highlighting and the
// server's validation errors shown as lint diagnostics at their line.
import { basicSetup } from 'codemirror';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { html } from '@codemirror/lang-html';
import { HighlightStyle, StreamLanguage, syntaxHighlighting, type StringStream } from '@codemirror/language';
import { lintGutter, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { indentWithTab } from '@codemirror/commands';
import { tags as t } from '@lezer/highlight';

export type Part = 'subject' | 'html' | 'text' | 'dataQuery';
export const PARTS: Part[] = ['subject', 'html', 'text', 'dataQuery'];
export const PART_LABELS: Record<Part, string> = {
  subject: 'Subject',
  html: 'HTML',
  text: 'Text',
  dataQuery: 'Data query',
};

/** Colours chosen for at least 4.5:1 contrast on the white editor background. */
const accessibleHighlight = HighlightStyle.define([
  { tag: [t.keyword, t.controlKeyword, t.definitionKeyword, t.moduleKeyword], color: '#6b21a8' },
  { tag: [t.atom, t.bool, t.null], color: '#1e3a8a' },
  { tag: [t.number], color: '#166534' },
  { tag: [t.string, t.special(t.string), t.attributeValue], color: '#9a1b1b' },
  { tag: [t.comment, t.blockComment, t.lineComment], color: '#6b4f00', fontStyle: 'italic' },
  { tag: [t.tagName, t.typeName, t.className], color: '#0f5132' },
  { tag: [t.attributeName, t.propertyName], color: '#1e40af' },
  { tag: [t.variableName, t.special(t.variableName)], color: '#7c2d12' },
  { tag: [t.meta, t.processingInstruction, t.angleBracket, t.brace], color: '#374151' },
  { tag: t.invalid, color: '#b91c1c' },
]);

// Handlebars expressions ({{…}}, {{#each}}, {{/if}}, {{!-- --}}) in plain-text parts.
interface HbsState {
  inExpr: boolean;
  inComment: boolean;
}
const handlebarsText = StreamLanguage.define<HbsState>({
  name: 'handlebars',
  startState: () => ({ inExpr: false, inComment: false }),
  token(stream: StringStream, state: HbsState) {
    if (state.inComment) {
      if (stream.skipTo('--}}')) {
        stream.match('--}}');
        state.inComment = false;
      } else stream.skipToEnd();
      return 'comment';
    }
    if (!state.inExpr) {
      if (stream.match('{{!--')) {
        state.inComment = true;
        return 'comment';
      }
      if (stream.match(/^\{\{!.*?\}\}/)) return 'comment';
      if (stream.match(/^\{\{\{?~?/)) {
        state.inExpr = true;
        return 'brace';
      }
      if (!stream.skipTo('{{')) stream.skipToEnd();
      return null;
    }
    if (stream.match(/^~?\}\}\}?/)) {
      state.inExpr = false;
      return 'brace';
    }
    if (stream.eatSpace()) return null;
    if (stream.match(/^[#/^](each|if|unless|with|else)?/)) return 'keyword';
    if (stream.match(/^(else|this)\b/)) return 'keyword';
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) return 'string';
    if (stream.match(/^-?\d+(\.\d+)?/)) return 'number';
    if (stream.match(/^(true|false|null)\b/)) return 'atom';
    if (stream.match(/^[@A-Za-z_][\w.\-[\]@]*/)) return 'variableName';
    stream.next();
    return null;
  },
});

// GraphQL for the data query.
const GRAPHQL_KEYWORDS = /^(query|mutation|subscription|fragment|on|true|false|null)\b/;
const graphqlLanguage = StreamLanguage.define<{ depth: number }>({
  name: 'graphql',
  startState: () => ({ depth: 0 }),
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match(/^#.*/)) return 'comment';
    if (stream.match(/^"""/)) {
      stream.skipTo('"""') ? stream.match('"""') : stream.skipToEnd();
      return 'string';
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/)) return 'string';
    if (stream.match(/^\$[A-Za-z_]\w*/)) return 'variableName';
    if (stream.match(/^@[A-Za-z_]\w*/)) return 'meta';
    if (stream.match(/^-?\d+(\.\d+)?([eE][+-]?\d+)?/)) return 'number';
    if (stream.match(GRAPHQL_KEYWORDS)) return 'keyword';
    if (stream.match(/^[A-Z]\w*!?/)) return 'typeName';
    if (stream.match(/^[A-Za-z_]\w*/)) return 'propertyName';
    if (stream.match(/^\.\.\./)) return 'keyword';
    stream.next();
    return 'brace';
  },
  languageData: { commentTokens: { line: '#' } },
});

function languageFor(part: Part): Extension {
  switch (part) {
    case 'html':
      return html();
    case 'dataQuery':
      return graphqlLanguage;
    default:
      return handlebarsText;
  }
}

const editorTheme = EditorView.theme({
  '&': { fontSize: '13px', backgroundColor: '#fff', color: '#111827' },
  '.cm-content': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
  '.cm-gutters': { backgroundColor: '#f3f4f6', color: '#4b5563', borderRight: '1px solid #d1d5db' },
  '.cm-activeLineGutter': { backgroundColor: '#e5e7eb', color: '#111827' },
  '.cm-activeLine': { backgroundColor: '#f5f7ff' },
  '&.cm-focused': { outline: '2px solid #1d4ed8', outlineOffset: '1px' },
});

export interface EditorOptions {
  part: Part;
  doc: string;
  parent: HTMLElement;
  label: string;
  onChange: (value: string) => void;
}

export function createEditor({ part, doc, parent, label, onChange }: EditorOptions): EditorView {
  const extensions: Extension[] = [
    basicSetup,
    keymap.of([indentWithTab]),
    languageFor(part),
    syntaxHighlighting(accessibleHighlight),
    lintGutter(),
    editorTheme,
    // tabindex: axe counts a contenteditable as focusable content of its scroller only with one.
    EditorView.contentAttributes.of({ 'aria-label': label, tabindex: '0' }),
    EditorView.updateListener.of((update) => {
      if (update.docChanged) onChange(update.state.doc.toString());
    }),
  ];
  // Wrapped lines keep every editor inside its column (and its whole text clickable).
  extensions.push(EditorView.lineWrapping);
  if (part === 'subject') extensions.push(EditorState.transactionFilter.of((tr) => (tr.newDoc.lines > 1 ? [] : tr)));
  return new EditorView({ parent, state: EditorState.create({ doc, extensions }) });
}

/** Replaces the whole document (loading a template version) without losing the editor. */
export function replaceDoc(view: EditorView, doc: string): void {
  if (view.state.doc.toString() === doc) return;
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: doc } });
}

export interface LineMessage {
  line: number;
  column: number;
  message: string;
}

/** Puts one lint diagnostic per message at its line (1-based) and column (1-based). */
export function showDiagnostics(view: EditorView, messages: LineMessage[]): void {
  const doc = view.state.doc;
  const diagnostics: Diagnostic[] = messages.map((m) => {
    const line = doc.line(Math.min(Math.max(m.line, 1), doc.lines));
    let from = Math.min(line.from + Math.max(m.column - 1, 0), line.to);
    let to = line.to;
    // At the end of a line, mark the whole line so the error stays visible.
    if (to <= from) [from, to] = [line.from, line.to];
    return { from, to, severity: 'error', message: m.message, source: 'Touchpoint' };
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

/** Moves the cursor to a line and column and focuses the editor. */
export function revealLocation(view: EditorView, lineNumber: number, column: number): void {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(lineNumber, 1), doc.lines));
  const pos = Math.min(line.from + Math.max(column - 1, 0), line.to);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}

/** Inserts text at the cursor (replacing the selection) and focuses the editor. */
export function insertAtCursor(view: EditorView, text: string): void {
  const { from, to } = view.state.selection.main;
  view.dispatch({ changes: { from, to, insert: text }, selection: { anchor: from + text.length }, scrollIntoView: true });
  view.focus();
}
