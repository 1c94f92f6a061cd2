// More of the template studio: signing in with the keyboard and with other roles, the version
// history (diff and rollback), previewing against a real order and at phone width, the data
// fields browser, test sends, and the brand settings as the tracking page shows them.
// One server and one browser for the file; each step opens its own page, so a failing step does
// not stop the others (the version history and brand steps change what later steps would see,
// so they use templates and settings no other step checks).

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
  openStudio,
  pasteOver,
  placeOrder,
  reportFailure,
  scenario,
  seedCatalog,
} from './harness.js';

const LOCALE = 'en';
/** The template whose history the rollback step changes (no other step looks at it). */
const HISTORY_KIND = 'SHIPMENT_DELAYED';
const HISTORY_EDIT = 'Spring edit: we are on it.';
const TEST_TO = 'qa-inbox@example.test';
const BRAND_NAME = 'Lilac Lane';
const BRAND_COLOUR = '#7c3aed';

const TEMPLATE_QUERY = `query($kind: NotificationKind!, $locale: String) { emailTemplate(kind: $kind, locale: $locale) {
  published { version subject html text dataQuery } draft { version } versions { version } } }`;

describe('template studio, more', { timeout: 120_000 }, () => {
  const step = scenario({ dependent: false });
  const axe = new AxeAudit();
  let server;
  let browser;
  /** An order placed through the API, for the real-order preview and the tracking page. */
  let order;
  const pages = [];

  before(async () => {
    [server, browser] = await Promise.all([Server.start(), launchBrowser()]);
    await seedCatalog(server);
    order = await placeOrder(server);
  });

  after(async () => {
    if (step.failed()) reportFailure(server, pages);
    await browser?.close();
    await server?.stop();
  });

  async function open(viewport = { width: 1440, height: 900 }) {
    const page = await newPage(browser, viewport);
    pages.push(page);
    return page;
  }

  /** A page of the studio signed in as marketing, with `kind` open and its preview rendered. */
  async function openTemplate(kind) {
    const page = await open();
    await openStudio(page, server, server.token('marketing', { sub: 'mia-marketing' }));
    await page.getByRole('button', { name: `${kind} (${LOCALE})`, exact: true }).click();
    await page.getByRole('heading', { level: 2, name: `(${kind}, ${LOCALE})` }).waitFor();
    await eventually(async () => (await editor(page, 'HTML').innerText()).includes('email_html'), {
      what: `the HTML editor shows ${kind}`,
    });
    await preview(page).locator('body').waitFor();
    return page;
  }

  const editor = (page, part) => page.getByRole('textbox', { name: `${part} editor`, exact: true });
  const preview = (page) => page.frameLocator('iframe[title="Email preview"]');
  const toolbarStatus = (page) => page.locator('.toolbar [role="status"]');
  const problems = (page) => page.locator('.problems[role="alert"]');
  const templateItem = (page, kind) =>
    page.getByRole('listitem').filter({ has: page.getByRole('button', { name: `${kind} (${LOCALE})`, exact: true }) });
  const versionRows = (page) => page.locator('.versions-column tbody tr');
  const liveVersion = async (page) =>
    Number((await versionRows(page).filter({ hasText: 'Live' }).locator('th').innerText()).match(/^\d+/)[0]);

  // ------------------------------------------------------------------------------ signing in

  step('signing in with the keyboard alone reaches the template list', async () => {
    const page = await open();
    await page.goto(`${server.url}/studio`);
    await page.getByRole('heading', { name: 'Sign in to the template studio' }).waitFor();

    /** Presses Tab until `match(activeElement)` holds; fails after `limit` presses. */
    async function tabTo(what, match, limit = 40) {
      for (let i = 0; i < limit; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(match)) return;
      }
      assert.fail(`${what} is not reached with ${limit} presses of Tab`);
    }

    await tabTo('the Token field', () => document.activeElement?.id === 'token');
    await page.keyboard.type(server.token('marketing', { sub: 'kim-keyboard' }));
    await tabTo('the Sign in button', () => document.activeElement?.textContent?.trim() === 'Sign in', 3);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Email templates' }).waitFor();
    assert.match(await page.getByRole('banner').innerText(), /Signed in as kim-keyboard \(marketing\)/);

    // The template list is reachable from the keyboard too: Tab to a template, Enter opens it.
    await page.getByRole('button', { name: 'ORDER_CONFIRMATION (en)', exact: true }).waitFor();
    await tabTo('the ORDER_CONFIRMATION (en) button', () => document.activeElement?.textContent?.trim() === 'ORDER_CONFIRMATION (en)');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: '(ORDER_CONFIRMATION, en)' }).waitFor();
    assert.equal(
      await page.getByRole('button', { name: 'ORDER_CONFIRMATION (en)', exact: true }).getAttribute('aria-current'),
      'true',
    );
  });

  step('an admin token opens the studio; a customer token is refused with a clear message', async () => {
    const page = await open();
    await page.goto(`${server.url}/studio`);
    const tokenBox = page.getByLabel('Token');
    const signIn = page.getByRole('button', { name: 'Sign in', exact: true });
    const refusal = page.getByRole('alert');

    await tokenBox.fill(server.token('customer', { customer: order.customer.id }));
    await signIn.click();
    await eventually(async () => /may not use the template studio/i.test(await refusal.innerText()), {
      what: 'the refusal of a customer token',
    });
    const text = await refusal.innerText();
    assert.match(text, /^This token was refused:/, text);
    assert.match(text, /\(FORBIDDEN\)/, text);
    assert.match(text, /marketing or admin token/, text);
    assert.equal(await page.getByRole('heading', { name: 'Email templates' }).count(), 0, 'not signed in');
    await axe.check(page, 'the sign-in page refusing a customer token');

    await tokenBox.fill(server.token('admin', { sub: 'ada-admin' }));
    await signIn.click();
    await page.getByRole('heading', { level: 1, name: 'Email templates' }).waitFor();
    assert.match(await page.getByRole('banner').innerText(), /Signed in as ada-admin \(admin\)/);
    await page.getByRole('button', { name: 'ORDER_CONFIRMATION (en)', exact: true }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 0, 'no refusal left on the page');
  });

  // ------------------------------------------------------------------------------ versions

  step('the history lists both versions, diffs version 1 against the published one, and rolls back', async () => {
    const { emailTemplate: before } = await server.as('marketing', TEMPLATE_QUERY, { kind: HISTORY_KIND, locale: LOCALE });
    const original = before.published;
    assert.deepEqual(before.versions.map((v) => v.version), [original.version], 'one version out of the box');
    const v1 = original.version;

    const page = await openTemplate(HISTORY_KIND);
    assert.equal(await versionRows(page).count(), 1, 'one version listed at first');

    // Change one line of the HTML part: the first <mj-text> line.
    const lines = original.html.split('\n');
    const index = lines.findIndex((l) => l.includes('<mj-text'));
    assert.ok(index >= 0, `${HISTORY_KIND} has an <mj-text> line`);
    const oldLine = lines[index];
    const newLine = `    <mj-text>${HISTORY_EDIT}</mj-text>`;
    lines[index] = newLine;
    await pasteOver(page, editor(page, 'HTML'), lines.join('\n'), HISTORY_EDIT);
    await eventually(async () => (await preview(page).locator('body').innerText()).includes(HISTORY_EDIT), {
      what: 'the preview shows the edit',
    });

    await page.getByRole('button', { name: 'Save draft', exact: true }).click();
    const saved = await eventually(async () => (await toolbarStatus(page).innerText()).match(/Draft saved as version (\d+)\./), {
      what: 'the draft is saved',
    });
    const v2 = Number(saved[1]);
    assert.ok(v2 > v1, `a new version: ${v2}`);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await eventually(async () => (await toolbarStatus(page).innerText()) === `Version ${v2} published.`, {
      what: 'the publish confirmation',
    });

    // Both versions are listed, newest first, the new one live.
    await eventually(async () => (await versionRows(page).count()) === 2, { what: 'two versions listed' });
    // (The "Live" badge follows the number without a space, so the text reads "2Live".)
    const heads = (await versionRows(page).locator('th').allInnerTexts()).map((t) => t.replace(/\s+/g, '').trim());
    assert.deepEqual(heads, [`${v2}Live`, `${v1}`], 'the history, newest first');

    // Version 1 against the published version: the changed line, removed and added.
    await page.getByRole('button', { name: `Compare version ${v1}`, exact: true }).click();
    const diff = page.getByRole('region', { name: `Version ${v1} against published version ${v2}` });
    await diff.waitFor();
    assert.equal(
      await page.getByRole('button', { name: `Compare version ${v1}`, exact: true }).getAttribute('aria-pressed'),
      'true',
    );
    assert.deepEqual(await diff.getByRole('heading', { level: 4 }).allInnerTexts(), ['HTML'], 'only the HTML part differs');
    const removed = (await diff.locator('del').allInnerTexts()).join('\n');
    const added = (await diff.locator('ins').allInnerTexts()).join('\n');
    assert.ok(removed.includes(`- ${newLine}`), `the published line is marked removed:\n${removed}`);
    assert.ok(added.includes(`+ ${oldLine}`), `version 1's line is marked added:\n${added}`);
    assert.ok(!removed.includes(oldLine) && !added.includes(HISTORY_EDIT), 'nothing else is marked');
    await diff.scrollIntoViewIfNeeded();
    await axe.check(page, 'the version history with a diff');

    // Roll back, through the confirmation.
    await page.getByRole('button', { name: `Roll back to version ${v1}`, exact: true }).click();
    const dialog = page.getByRole('alertdialog', { name: `Roll back to version ${v1}?` });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), new RegExp(`Version ${v1} will be published again.*replacing version ${v2}`, 's'));
    const confirm = dialog.getByRole('button', { name: 'Confirm rollback', exact: true });
    await eventually(() => confirm.evaluate((el) => el === document.activeElement), { what: 'Confirm rollback has the focus' });
    await axe.check(page, 'the rollback confirmation');
    await confirm.click();
    await eventually(
      async () => (await toolbarStatus(page).innerText()) === `Rolled back: version ${v1} is published again.`,
      { what: 'the rollback confirmation message' },
    );
    assert.equal(await dialog.count(), 0, 'the dialog is gone');

    // The page: version 1 live again (no new version), in the history, the list and the header.
    await eventually(async () => (await liveVersion(page)) === v1, { what: `version ${v1} is Live` });
    assert.equal(await versionRows(page).count(), 2, 'the rollback republished version 1 rather than adding a version');
    await eventually(async () => new RegExp(`published v${v1}\\b`).test(await templateItem(page, HISTORY_KIND).innerText()), {
      what: `the list shows published v${v1}`,
    });
    assert.match(await page.locator('.editor-title').innerText(), new RegExp(`Published: version ${v1}\\b`));

    // The API agrees.
    const { emailTemplate: after } = await server.as('marketing', TEMPLATE_QUERY, { kind: HISTORY_KIND, locale: LOCALE });
    assert.equal(after.published.version, v1, 'the API publishes version 1');
    assert.equal(after.published.html, original.html, "with version 1's content");
    assert.equal(after.draft, null, 'and no draft');
    assert.deepEqual(after.versions.map((v) => v.version), [v2, v1]);

    // The editor and the next preview no longer have the edit.
    await eventually(
      async () => {
        assert.ok(!(await editor(page, 'HTML').innerText()).includes(HISTORY_EDIT), 'the editor is back on version 1');
        const body = await preview(page).locator('body').innerText();
        assert.ok(!body.includes(HISTORY_EDIT), 'the preview no longer shows the edit');
        return true;
      },
      { what: 'the editor and the preview are back on version 1' },
    );
  });

  // ------------------------------------------------------------------------------ preview

  step('the preview renders a real order by number, refuses an unknown one, and switches to phone width', async () => {
    const page = await openTemplate('ORDER_CONFIRMATION');
    const region = page.getByRole('region', { name: 'Preview' });
    const orderBox = region.getByRole('textbox', { name: 'Order number', exact: true });
    const subject = page.getByTestId('rendered-subject');

    assert.ok(!(await subject.innerText()).includes(order.number), 'the sample order at first');
    await orderBox.fill(order.number);
    await eventually(
      async () => {
        assert.ok((await subject.innerText()).includes(order.number), `subject: ${await subject.innerText()}`);
        assert.ok((await preview(page).locator('body').innerText()).includes(order.number), 'the email body');
        return true;
      },
      { what: `the preview shows order ${order.number}` },
    );
    assert.ok((await page.getByTestId('rendered-text').innerText()).includes(order.number), 'the text part too');

    // An order number that does not exist.
    await orderBox.fill('TP-999999');
    await eventually(async () => /NOT_FOUND/.test(await problems(page).innerText()), { what: 'a NOT_FOUND problem' });
    const problemText = await problems(page).innerText();
    assert.match(problemText, /orderNumber: .*TP-999999.*\(NOT_FOUND\)/, problemText);
    assert.match(await region.innerText(), /Showing the last preview that rendered\./);
    await axe.check(page, 'the preview of an unknown order number');

    // Back to the real order: the problem goes.
    await orderBox.fill(order.number);
    await eventually(async () => (await problems(page).count()) === 0, { what: 'the problem list goes' });

    // Phone and desktop widths, measured on the iframe.
    const frame = page.locator('iframe[title="Email preview"]');
    const mobile = region.getByRole('button', { name: 'Mobile', exact: true });
    const desktop = region.getByRole('button', { name: 'Desktop', exact: true });
    assert.equal(await desktop.getAttribute('aria-pressed'), 'true', 'Desktop at first');
    const desktopWidth = (await frame.boundingBox()).width;
    await mobile.click();
    await eventually(async () => Math.abs((await frame.boundingBox()).width - 375) < 1, {
      what: 'the iframe is 375 px wide',
    });
    assert.equal(await mobile.getAttribute('aria-pressed'), 'true');
    assert.equal(await desktop.getAttribute('aria-pressed'), 'false');
    await axe.check(page, 'the preview at phone width');
    await desktop.click();
    await eventually(async () => (await frame.boundingBox()).width > 375, { what: 'the iframe is wider again' });
    const wide = (await frame.boundingBox()).width;
    assert.ok(Math.abs(wide - 700) < 1, `Desktop is 700 px wide (web/README.md): ${wide} px`);
    assert.equal(wide, desktopWidth, 'the same width as before');
  });

  step('the data fields browser expands order and inserts {{order.number}} into the editor', async () => {
    const page = await openTemplate('ORDER_CONFIRMATION');
    const fields = page.getByRole('region', { name: 'Data fields' });
    const orderToggle = fields.getByRole('button', { name: 'order', exact: true });
    const numberLeaf = fields.getByRole('button', { name: '{{order.number}}', exact: true });
    await orderToggle.waitFor();

    // The top level starts open; closing and opening it again hides and shows its fields.
    if ((await orderToggle.getAttribute('aria-expanded')) === 'true') {
      await orderToggle.click();
      await eventually(async () => (await orderToggle.getAttribute('aria-expanded')) === 'false', { what: 'order collapses' });
    }
    assert.equal(await numberLeaf.count(), 0, 'order.number is hidden while order is collapsed');
    await orderToggle.click();
    assert.equal(await orderToggle.getAttribute('aria-expanded'), 'true');
    await numberLeaf.waitFor();
    assert.ok(await numberLeaf.isVisible(), 'order.number is shown');
    await axe.check(page, 'the data fields browser');

    // A new empty last line in the HTML editor, then the field.
    const html = editor(page, 'HTML');
    await html.click();
    await page.keyboard.press('ControlOrMeta+End');
    await page.keyboard.press('Enter');
    await numberLeaf.click();
    await eventually(async () => (await toolbarStatus(page).innerText()) === 'Inserted {{order.number}} into the HTML part.', {
      what: 'the insertion is confirmed',
    });
    const cursorLine = await page.locator('#panel-html .cm-activeLine').innerText();
    assert.equal(cursorLine.trim(), '{{order.number}}', 'the expression is at the cursor');
    assert.match(await page.locator('.editor-title').innerText(), /Unsaved changes/);
  });

  // ------------------------------------------------------------------------------ test send

  step('a test email is confirmed on the page and sent, marked as a test', async () => {
    const page = await openTemplate('ORDER_CONFIRMATION');
    const region = page.getByRole('region', { name: 'Send a test email' });
    await region.getByRole('textbox', { name: 'Send to', exact: true }).fill(TEST_TO);
    const response = page.waitForResponse(
      (r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes('sendTestEmail'),
    );
    await region.getByRole('button', { name: 'Send test email', exact: true }).click();
    const body = await (await response).json();
    const sent = body.data?.sendTestEmail?.communication;
    assert.ok(sent?.id, `the mutation answered a communication: ${JSON.stringify(body)}`);

    const status = page.locator('.test-column [role="status"]');
    await eventually(async () => /^Test email to /.test(await status.innerText()), { what: 'the test send is confirmed' });
    assert.match(await status.innerText(), new RegExp(`^Test email to ${TEST_TO}: (queued|sent)\\. Subject: \\[TEST\\] `));
    await axe.check(page, 'the studio after a test send');

    // The communication, as an admin reads it: a SENT test to that address, about no order.
    const comm = await eventually(
      async () => {
        const { node } = await server.as(
          'admin',
          `query($id: ID!) { node(id: $id) { ... on Communication { kind to subject status isTest order { id } } } }`,
          { id: sent.id },
        );
        return node?.status === 'SENT' ? node : false;
      },
      { what: 'the test communication is SENT', timeout: 15_000 },
    );
    assert.equal(comm.isTest, true);
    assert.equal(comm.to, TEST_TO);
    assert.equal(comm.kind, 'ORDER_CONFIRMATION');
    assert.match(comm.subject, /^\[TEST\] /);
    assert.equal(comm.order, null, 'a test send belongs to no order');
    assert.ok((await status.innerText()).endsWith(comm.subject), 'the page names the same subject');

    // And the message written to the mail directory.
    await eventually(
      () => server.mails().some((m) => m.text.includes(TEST_TO) && decodeEml(m.text).includes('[TEST]')),
      { what: `an .eml file to ${TEST_TO} with a [TEST] subject (files: ${server.mails().map((m) => m.name)})` },
    );
  });

  // ------------------------------------------------------------------------------ brand

  step('brand settings: a new colour and name are saved and worn by the tracking page', async () => {
    const page = await open();
    await openStudio(page, server, server.token('marketing', { sub: 'mia-marketing' }));
    await page.getByRole('navigation', { name: 'Studio sections' }).getByRole('link', { name: 'Brand', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Brand' }).waitFor();
    const name = page.getByRole('textbox', { name: 'Name', exact: true });
    await eventually(async () => (await name.inputValue()) !== '', { what: 'the brand form is loaded' });

    await name.fill(BRAND_NAME);
    await page.getByLabel('Primary colour').fill(BRAND_COLOUR);
    // The sample bar follows before saving.
    const sample = page.locator('.brand-sample-bar');
    await eventually(async () => (await sample.evaluate((el) => getComputedStyle(el).backgroundColor)) === 'rgb(124, 58, 237)', {
      what: 'the sample bar shows the new colour',
    });
    assert.match(await sample.innerText(), new RegExp(BRAND_NAME));
    await page.getByRole('button', { name: 'Save brand', exact: true }).click();
    const status = page.locator('.brand-form [role="status"]');
    await eventually(async () => (await status.innerText()) === 'Brand saved.', { what: 'the brand is saved' });
    await axe.check(page, 'the brand settings after saving');

    const { brand } = await server.as('marketing', '{ brand { name primaryColor } }');
    assert.equal(brand.name, BRAND_NAME);
    assert.equal(brand.primaryColor.toLowerCase(), BRAND_COLOUR);

    // The tracking page of an order wears them.
    const { order: read } = await server.as('agent', 'query($id: ID!) { order(id: $id) { trackingPageUrl } }', { id: order.id });
    const track = await open({ width: 1280, height: 900 });
    await track.goto(read.trackingPageUrl);
    await track.getByRole('heading', { level: 1, name: `Order ${order.number}` }).waitFor();
    const banner = track.getByRole('banner');
    assert.equal(await banner.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(124, 58, 237)', 'the header colour');
    assert.equal((await banner.innerText()).trim(), BRAND_NAME, 'the header names the brand');
    assert.equal(await track.title(), `Order ${order.number} · ${BRAND_NAME}`);
    await axe.check(track, 'the tracking page in the new brand colour');
  });

  test('every new studio page state passes axe (WCAG 2 A and AA)', () => {
    axe.assertClean(
      [
        'the sign-in page refusing a customer token',
        'the version history with a diff',
        'the rollback confirmation',
        'the preview of an unknown order number',
        'the preview at phone width',
        'the data fields browser',
        'the studio after a test send',
        'the brand settings after saving',
        'the tracking page in the new brand colour',
      ],
      { partial: !!step.failed() },
    );
  });

  test('the pages threw no uncaught error', () => assertNoPageErrors(pages));
});
