// The tracking page, as a customer reaches it: from the link in the dispatch email of a delayed
// order, on a desktop and on a 375-px phone; and what a made-up link shows.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CARRIER,
  Server,
  AxeAudit,
  assertNoPageErrors,
  atHours,
  day,
  dispatch,
  launchBrowser,
  newPage,
  placeOrder,
  recordTracking,
  reportFailure,
  scenario,
  screenshot,
  seedCatalog,
  waitUntilSent,
} from './harness.js';

const TRACKING_NUMBER = '3STEST000042';

describe('tracking page', { timeout: 120_000 }, () => {
  // The checks of the page do not depend on the email check: each runs whatever the others do.
  const step = scenario({ dependent: false });
  const axe = new AxeAudit();
  let server;
  let browser;
  let order;
  /** The tracking page link found in the dispatch email. */
  let link;
  /** Order.trackingPageUrl: the page is still checked when the emails lack the link. */
  let pageUrl;
  const trackingPage = () => link ?? pageUrl;
  const pages = [];

  before(async () => {
    [server, browser] = await Promise.all([Server.start(), launchBrowser()]);
    await seedCatalog(server);

    // An order promised in three days, dispatched, then estimated by the carrier two days late.
    order = await placeOrder(server, { promisedDate: day(3) });
    assert.equal(order.shipments.length, 1, 'one shipment');
    const shipmentId = order.shipments[0].id;
    await dispatch(server, shipmentId, TRACKING_NUMBER);
    const late = await recordTracking(server, {
      trackingNumber: TRACKING_NUMBER,
      status: 'IN_TRANSIT',
      occurredAt: atHours(-1),
      estimatedDeliveryDate: day(5),
    });
    assert.equal(late.isDelayed, true, 'a carrier estimate past the promise delays the shipment');
    const { order: read } = await server.as('agent', 'query($id: ID!) { order(id: $id) { trackingPageUrl } }', {
      id: order.id,
    });
    pageUrl = read.trackingPageUrl;
    assert.match(pageUrl ?? '', new RegExp(`^${server.url}/track/[A-Za-z0-9_-]+$`), 'Order.trackingPageUrl');
  });

  after(async () => {
    if (step.failed()) reportFailure(server, pages);
    await browser?.close();
    await server?.stop();
  });

  async function open(url, viewport) {
    const page = await newPage(browser, viewport);
    pages.push(page);
    await page.goto(url);
    return page;
  }

  step('the dispatch and delay emails link to the tracking page', async () => {
    const linkPattern = new RegExp(`${server.url}/track/([A-Za-z0-9_-]+)`);
    const dispatched = await waitUntilSent(server, order.id, 'SHIPMENT_DISPATCHED');
    const inText = linkPattern.exec(dispatched.text ?? '');
    assert.ok(inText, `a tracking page link in the dispatch email's text:\n${dispatched.text}`);
    link = inText[0];
    assert.ok(dispatched.html.includes(`href="${link}"`), `and a link to it in its HTML:\n${dispatched.html}`);

    assert.equal(link, pageUrl, 'the emailed link is Order.trackingPageUrl');

    const delayed = await waitUntilSent(server, order.id, 'SHIPMENT_DELAYED');
    assert.ok(delayed.text.includes(link), `the delay email links the same page:\n${delayed.text}`);
  });

  /** A date as the page writes it (en-GB, in the browser's own ICU), e.g. "Wednesday 2 December 2026". */
  const longDay = (page, iso) =>
    page.evaluate(
      (value) =>
        new Date(`${value}T12:00:00Z`).toLocaleDateString('en-GB', {
          weekday: 'long',
          day: 'numeric',
          month: 'long',
          year: 'numeric',
          timeZone: 'UTC',
        }),
      iso,
    );

  /** The key facts of the tracking page, as locators. */
  function facts(page) {
    const main = page.getByRole('main');
    const parcel = main.getByRole('article', { name: 'Your parcel' });
    return {
      main,
      parcel,
      heading: main.getByRole('heading', { level: 1, name: `Order ${order.number}` }),
      status: parcel.getByText('Status: On its way'),
      progress: parcel.getByRole('list', { name: 'Your parcel: progress' }),
      delay: main.getByRole('alert').filter({ hasText: 'Your order is delayed' }),
      carrierLink: parcel.getByRole('link', { name: new RegExp(`${TRACKING_NUMBER}.*track with ${CARRIER}`) }),
    };
  }

  step('on a desktop, the page shows the order, its status, the delay and the carrier link', async () => {
    const page = await open(trackingPage(), { width: 1280, height: 900 });
    const f = facts(page);
    await f.heading.waitFor();
    await f.status.waitFor();

    // The line and where it goes (nothing personal beyond the town).
    const text = await f.main.innerText();
    assert.match(text, /Linen shirt/, 'the line');
    assert.match(text, /Amsterdam/, 'the delivery town');
    assert.doesNotMatch(text, /Damrak|Lovelace|ada@example/, 'no street, surname or email');

    // The progress bar: placed and packed done, dispatched current, the rest to come.
    const steps = f.progress.getByRole('listitem');
    assert.deepEqual(
      (await steps.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()),
      ['Placed (done)', 'Packed (done)', 'Dispatched (current step)', 'Out for delivery (to come)', 'Delivered (to come)'],
    );
    assert.equal(await f.progress.locator('[aria-current="step"]').innerText().then((t) => t.split('\n')[0].trim()), 'Dispatched');

    // The delay notice, with the carrier's new date and the promised one.
    const notice = await f.delay.innerText();
    assert.match(notice, new RegExp(`new estimated delivery date is ${await longDay(page, day(5))}`), notice);
    assert.match(notice, new RegExp(`we had promised ${await longDay(page, day(3))}`), notice);

    // The carrier, and the tracking number linking to the carrier's page.
    const parcelText = await f.parcel.innerText();
    assert.match(parcelText, new RegExp(`Carrier\\s+${CARRIER}`, 'i'), parcelText);
    assert.match(parcelText, new RegExp(`Estimated delivery\\s+${await longDay(page, day(5))} \\(delayed\\)`, 'i'), parcelText);
    assert.equal(await f.carrierLink.getAttribute('href'), `https://track.example.test/${TRACKING_NUMBER}`);
    assert.equal(await f.carrierLink.innerText().then((t) => t.trim().split(/\s/)[0]), TRACKING_NUMBER);

    // The return policy, from the same policy the API applies.
    const returns = f.main.getByRole('region', { name: 'Returns' });
    assert.match(await returns.innerText(), /return items within 30 days/i);

    await screenshot(page, 'tracking-desktop.png');
    await axe.check(page, 'the tracking page (desktop)');
  });

  step('on a 375-px phone, nothing scrolls sideways and the key facts are visible', async () => {
    const page = await open(trackingPage(), { width: 375, height: 812 });
    const f = facts(page);
    await f.heading.waitFor();
    await f.status.waitFor();

    const scrollWidth = await page.evaluate(() => document.scrollingElement.scrollWidth);
    assert.ok(scrollWidth <= 375, `no horizontal scroll at 375 px: scrollWidth ${scrollWidth}`);

    for (const [what, locator] of [
      ['the order number', f.heading],
      ['the delay notice', f.delay],
      ['the status', f.status],
      ['the progress bar', f.progress],
      ['the carrier link', f.carrierLink],
    ]) {
      await locator.scrollIntoViewIfNeeded();
      assert.ok(await locator.isVisible(), `${what} is visible`);
      const box = await locator.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 375.5, `${what} fits the width: ${JSON.stringify(box)}`);
    }
    // The order number and the delay are above the fold.
    await page.evaluate(() => window.scrollTo(0, 0));
    for (const [what, locator] of [
      ['the order number', f.heading],
      ['the delay notice', f.delay],
    ]) {
      const box = await locator.boundingBox();
      assert.ok(box.y + box.height <= 812, `${what} is on the first screen: ${JSON.stringify(box)}`);
    }

    await screenshot(page, 'tracking-mobile.png');
    await axe.check(page, 'the tracking page (375 px)');
  });

  step('a made-up token says the link is not valid and shows no order', async () => {
    const page = await open(`${server.url}/track/not-a-real-token-0000000000000000`, { width: 1280, height: 900 });
    await page.getByRole('heading', { level: 1, name: /not valid/i }).waitFor();
    const text = await page.locator('body').innerText();
    assert.ok(!text.includes(order.number), 'no order number');
    assert.doesNotMatch(text, /Linen shirt|PostNL|3STEST/, 'no order data');

    await screenshot(page, 'tracking-invalid.png');
    await axe.check(page, 'the tracking page of an invalid link');
  });

  test('every tracking page state passes axe (WCAG 2 A and AA)', () => {
    axe.assertClean([
      'the tracking page (desktop)',
      'the tracking page (375 px)',
      'the tracking page of an invalid link',
    ]);
  });

  test('the tracking page threw no uncaught error', () => assertNoPageErrors(pages));
});
