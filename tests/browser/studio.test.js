// The template studio, as a marketer uses it: sign in, break a template and see the error at its
// line, fix it and see the live preview change, publish, then see a real order's confirmation
// email carry the edit. One server and one browser for the file; the steps build on each other.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server,
  AxeAudit,
  assertNoPageErrors,
  decodeEml,
  eventually,
  launchBrowser,
  newPage,
  placeOrder,
  reportFailure,
  scenario,
  screenshot,
  seedCatalog,
  waitUntilSent,
} from './harness.js';

const KIND = 'ORDER_CONFIRMATION';
const LOCALE = 'en';
const EDIT = 'Thanks a million';
const BROKEN = '{{#if order}}Oops{{/each}}';

describe('template studio', { timeout: 120_000 }, () => {
  const step = scenario();
  const axe = new AxeAudit();
  let server;
  let browser;
  let page;
  /** The published ORDER_CONFIRMATION (en) before the test changes it. */
  let original;
  /** The 1-based line of the HTML part that the broken expression is put on. */
  let brokenLine;
  /** The version the studio published. */
  let publishedVersion;

  before(async () => {
    [server, browser] = await Promise.all([Server.start(), launchBrowser()]);
    await seedCatalog(server);
    const data = await server.as(
      'marketing',
      `query($kind: NotificationKind!, $locale: String) { emailTemplate(kind: $kind, locale: $locale) {
        published { version subject html text dataQuery } } }`,
      { kind: KIND, locale: LOCALE },
    );
    original = data.emailTemplate.published;
    assert.ok(original, `${KIND} (${LOCALE}) is published out of the box`);
    page = await newPage(browser, { width: 1440, height: 900 });
  });

  after(async () => {
    if (step.failed()) reportFailure(server, page ? [page] : []);
    await browser?.close();
    await server?.stop();
  });

  const editor = (part) => page.getByRole('textbox', { name: `${part} editor` });
  const problems = () => page.locator('.problems[role="alert"]');
  const preview = () => page.frameLocator('iframe[title="Email preview"]');
  /** The list item of a template: its button "<KIND> (<locale>)" and the text beside it. */
  const templateItem = (kind, locale = LOCALE) =>
    page.getByRole('listitem').filter({ has: page.getByRole('button', { name: `${kind} (${locale})`, exact: true }) });

  /**
   * Replaces the whole document of a CodeMirror editor the way a user pastes over a selection;
   * waits until the editor shows `expected`.
   */
  async function pasteOver(part, text, expected) {
    const box = editor(part);
    await box.click();
    await page.keyboard.press('ControlOrMeta+A');
    await box.evaluate((el, value) => {
      const data = new DataTransfer();
      data.setData('text/plain', value);
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, text);
    await eventually(async () => (await box.innerText()).includes(expected), {
      what: `the ${part} editor shows the pasted text`,
    });
  }

  /** Clicks the problem's link; waits until the HTML editor has the focus, at the error's line. */
  async function followProblemLink() {
    await problems().getByRole('button', { name: new RegExp(`line ${brokenLine}\\b`) }).click();
    await eventually(
      () =>
        editor('HTML').evaluate((el, line) => {
          if (!el.contains(document.activeElement) && el !== document.activeElement) return false;
          const active = el.querySelector('.cm-activeLine');
          const lines = [...el.querySelectorAll(':scope > .cm-line')];
          return lines.indexOf(active) + 1 === line;
        }, brokenLine),
      { what: `the HTML editor has the focus on line ${brokenLine}` },
    );
  }

  step('a bad token is refused with a clear message; a marketing token lists the published templates', async () => {
    await page.goto(`${server.url}/studio`);
    await page.getByRole('heading', { name: 'Sign in to the template studio' }).waitFor();
    await screenshot(page, 'studio-signin.png');
    await axe.check(page, 'the studio sign-in page');

    const tokenBox = page.getByLabel('Token');
    const signIn = page.getByRole('button', { name: 'Sign in' });
    const refusal = page.getByRole('alert');

    await tokenBox.fill('not-a-real-token');
    await signIn.click();
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /refused/i);
    assert.match(await refusal.innerText(), /invalid|expired/i);
    assert.equal(await page.getByRole('heading', { name: 'Email templates' }).count(), 0, 'not signed in');

    // A valid token of a role that may not use the studio is refused too, and says why. (Agents
    // may sign in, to the dashboard only: see dashboard.test.js.)
    await tokenBox.fill(server.token('service'));
    await signIn.click();
    await eventually(async () => /may not use the template studio/i.test(await refusal.innerText()), {
      what: 'the refusal of a service token',
    });
    assert.equal(await page.getByRole('heading', { name: 'Email templates' }).count(), 0, 'not signed in');

    await tokenBox.fill(server.token('marketing', { sub: 'mia-marketing' }));
    await signIn.click();
    await page.getByRole('heading', { name: 'Email templates' }).waitFor();

    // Every kind is listed with its published version, as the API has it.
    const { emailTemplates } = await server.as(
      'marketing',
      '{ emailTemplates { kind locale published { version } } }',
    );
    assert.ok(emailTemplates.length >= 10, `the built-in templates: ${emailTemplates.length}`);
    for (const t of emailTemplates) {
      const item = templateItem(t.kind, t.locale);
      await item.waitFor();
      assert.match(await item.innerText(), new RegExp(`published v${t.published.version}\\b`), `${t.kind}`);
    }
  });

  step('a Handlebars syntax error is reported at its line, in the list and in the editor', async () => {
    await page.getByRole('button', { name: `${KIND} (${LOCALE})`, exact: true }).click();
    await page.getByRole('heading', { name: /^Order confirmation/ }).waitFor();
    await page.getByRole('tab', { name: 'HTML' }).click();
    await editor('HTML').waitFor();
    await eventually(async () => (await editor('HTML').innerText()).includes('email_html'), {
      what: 'the HTML editor shows the published template',
    });
    // A preview of the published version has rendered before the template is broken.
    await preview().locator('body').waitFor();

    // The broken expression goes on its own line just inside the first column.
    const lines = original.html.split('\n');
    const column = lines.findIndex((l) => l.includes('<mj-column'));
    assert.ok(column >= 0, 'the confirmation template has an <mj-column>');
    lines.splice(column + 1, 0, `    <mj-text>${BROKEN}</mj-text>`);
    brokenLine = column + 2;
    await pasteOver('HTML', lines.join('\n'), BROKEN);

    // The error list names the part and the line.
    await problems().waitFor();
    await eventually(
      async () => {
        const text = await problems().innerText();
        assert.match(text, new RegExp(`html, line ${brokenLine}\\b`), text);
        assert.match(text, /"each" is closing/, text);
      },
      { what: `the problem list reports line ${brokenLine}` },
    );

    // CodeMirror marks that line: an error marker in the lint gutter level with line N, and
    // the error range inside line N of the content.
    const host = page.locator('#panel-html');
    const marker = host.locator('.cm-gutter-lint .cm-gutterElement:has(.cm-lint-marker-error)');
    await marker.first().waitFor();
    assert.equal(await marker.count(), 1, 'one lint marker');
    const lineNumber = host
      .locator('.cm-lineNumbers .cm-gutterElement')
      .filter({ hasText: new RegExp(`^${brokenLine}$`) });
    const [markerBox, numberBox] = [await marker.boundingBox(), await lineNumber.boundingBox()];
    assert.ok(
      Math.abs(markerBox.y - numberBox.y) < 4,
      `the lint marker (y=${markerBox.y}) is level with line ${brokenLine} (y=${numberBox.y})`,
    );
    const rangeLine = await host
      .locator('.cm-lintRange-error')
      .first()
      .evaluate((el) => {
        const line = el.closest('.cm-line');
        return [...line.parentElement.querySelectorAll(':scope > .cm-line')].indexOf(line);
      });
    // All lines of this short template are rendered, so the index is the line number - 1.
    assert.equal(rangeLine + 1, brokenLine, 'the underlined error is on the reported line');

    // The problem link brings the error into view (for the screenshot, from the top of the editor).
    await host.locator('.cm-scroller').evaluate((el) => el.scrollTo(0, 0));
    await followProblemLink();
    await screenshot(page, 'studio-editor-error.png');
  });

  step('fixing the error updates the live preview', async () => {
    // The user follows the problem link to the error, and replaces the broken line.
    // Alt+L (CodeMirror's "select line") takes the whole line, however the editor wraps it.
    await followProblemLink();
    await page.keyboard.press('Alt+L');
    await page.keyboard.insertText(`    <mj-text>${EDIT} for shopping with us!</mj-text>\n`);

    await eventually(
      async () => {
        const listed = (await problems().allInnerTexts()).join('\n');
        assert.equal(listed, '', 'no problems are listed');
        assert.match(await preview().locator('body').innerText(), new RegExp(EDIT));
      },
      { what: 'the preview shows the edit and no problem is listed' },
    );
    assert.equal(await page.locator('#panel-html .cm-lint-marker-error').count(), 0, 'no lint marker');

    await screenshot(page, 'studio-preview.png');
    await axe.check(page, 'the studio with the editor open');
  });

  step('saving and publishing makes the edit the published version', async () => {
    await page.getByRole('button', { name: 'Save draft' }).click();
    const status = page.locator('.toolbar [role="status"]');
    await eventually(async () => (await status.innerText()).match(/Draft saved as version (\d+)/), {
      what: 'the draft is saved',
    });
    const draftVersion = Number((await status.innerText()).match(/version (\d+)/)[1]);
    assert.ok(draftVersion > original.version, `a new version: ${draftVersion}`);

    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await eventually(async () => (await status.innerText()).includes(`Version ${draftVersion} published.`), {
      what: 'the publish confirmation',
    });
    publishedVersion = draftVersion;

    // The list and the history say so.
    await eventually(
      async () => new RegExp(`published v${publishedVersion}\\b`).test(await templateItem(KIND).innerText()),
      { what: `the list shows published v${publishedVersion}` },
    );
    const live = page.locator('.versions-column tbody tr').filter({ hasText: 'Live' });
    await eventually(async () => (await live.locator('th').innerText()).startsWith(String(publishedVersion)), {
      what: `version ${publishedVersion} is marked Live in the history`,
    });
    assert.ok(
      (await page.locator('.editor-title').innerText()).includes(`Published: version ${publishedVersion}`),
      'the editor header names the published version',
    );

    const { emailTemplate } = await server.as(
      'marketing',
      `query($kind: NotificationKind!, $locale: String) { emailTemplate(kind: $kind, locale: $locale) {
        published { version html } } }`,
      { kind: KIND, locale: LOCALE },
    );
    assert.equal(emailTemplate.published.version, publishedVersion);
    assert.ok(emailTemplate.published.html.includes(EDIT));
  });

  step("the next order's confirmation email carries the published edit", async () => {
    assert.ok(publishedVersion, 'the edit was published');
    const order = await placeOrder(server);
    const sent = await waitUntilSent(server, order.id, KIND);
    assert.equal(sent.templateVersion, publishedVersion, 'rendered from the published version');
    assert.ok(sent.html.includes(EDIT), `the HTML body has the edit:\n${sent.html}`);
    assert.ok(sent.html.includes(order.number), 'and the order number');

    // The message as delivered (an .eml file in the mail directory) has it too.
    const mails = () => server.mails().map((m) => decodeEml(m.text));
    await eventually(() => mails().some((m) => m.includes(order.number) && m.includes(EDIT)), {
      what: `an .eml file about ${order.number} with the edit (files: ${server.mails().map((m) => m.name)})`,
    });
  });

  test('every studio page state passes axe (WCAG 2 A and AA)', () => {
    axe.assertClean(['the studio sign-in page', 'the studio with the editor open'], { partial: !!step.failed() });
  });

  test('the studio threw no uncaught error', () => assertNoPageErrors(page ? [page] : []));
});
