// More of the tracking page: a click-and-collect order ready at the store, a delivered order with
// its return link and return-by date, and the brand's logo in the header.
// One server and one browser for the file; each step opens its own page.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server,
  AxeAudit,
  assertNoPageErrors,
  atHours,
  day,
  dispatch,
  eventually,
  launchBrowser,
  newPage,
  placeOrder,
  recordTracking,
  reportFailure,
  scenario,
  seedCatalog,
} from './harness.js';

const STORE_CODE = 'ST-1';
const STORE_NAME = 'Amsterdam Damrak';
const WEBSITE = 'https://shop.example.test';
const LOGO = 'https://cdn.example.test/brand/logo.png';
/** A 1×1 PNG, served for LOGO so the logo loads although nothing leaves the machine. */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

describe('tracking page, more', { timeout: 120_000 }, () => {
  const step = scenario({ dependent: false });
  const axe = new AxeAudit();
  let server;
  let browser;
  const pages = [];

  before(async () => {
    [server, browser] = await Promise.all([Server.start(), launchBrowser()]);
    await seedCatalog(server);
  });

  after(async () => {
    if (step.failed()) reportFailure(server, pages);
    await browser?.close();
    await server?.stop();
  });

  async function open(url, { viewport = { width: 1280, height: 900 }, setup } = {}) {
    const page = await newPage(browser, viewport);
    pages.push(page);
    if (setup) await setup(page);
    await page.goto(url);
    return page;
  }

  async function trackingUrl(orderId) {
    const { order } = await server.as('agent', 'query($id: ID!) { order(id: $id) { trackingPageUrl } }', { id: orderId });
    assert.match(order.trackingPageUrl ?? '', new RegExp(`^${server.url}/track/[A-Za-z0-9_-]+$`), 'Order.trackingPageUrl');
    return order.trackingPageUrl;
  }

  /** A date as the page writes it (en-GB, in the browser's own ICU). */
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

  const stepTexts = async (list) =>
    (await list.getByRole('listitem').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());

  /** A delivered order, shared by the return and logo steps. */
  let delivered;
  async function deliveredOrder() {
    if (delivered) return delivered;
    const order = await placeOrder(server);
    const trackingNumber = '3STEST000777';
    await dispatch(server, order.shipments[0].id, trackingNumber);
    const shipment = await recordTracking(server, { trackingNumber, status: 'DELIVERED', occurredAt: atHours(-1) });
    assert.equal(shipment.status, 'DELIVERED');
    const url = await trackingUrl(order.id);
    const token = url.split('/').pop();
    const { trackedOrder } = await server.as('service', 'query($t: String!) { trackedOrder(token: $t) { status returnableUntil } }', {
      t: token,
    });
    assert.equal(trackedOrder.status, 'DELIVERED', 'the order is delivered');
    assert.ok(trackedOrder.returnableUntil >= day(0), `returnable until ${trackedOrder.returnableUntil}`);
    delivered = { order, url, returnableUntil: trackedOrder.returnableUntil };
    return delivered;
  }

  step('a click-and-collect order ready at the store shows the store and "Ready to collect"', async () => {
    const order = await placeOrder(server, { delivery: { method: 'CLICK_AND_COLLECT', collectionStoreCode: STORE_CODE } });
    assert.equal(order.shipments.length, 1, 'one shipment');
    const { markReadyForCollection } = await server.as(
      'service',
      `mutation($input: MarkReadyForCollectionInput!) { markReadyForCollection(input: $input) {
        shipment { status } userErrors { field code message } } }`,
      { input: { shipmentId: order.shipments[0].id } },
    );
    assert.equal(markReadyForCollection.shipment.status, 'READY_FOR_COLLECTION');

    const page = await open(await trackingUrl(order.id));
    const main = page.getByRole('main');
    await main.getByRole('heading', { level: 1, name: `Order ${order.number}` }).waitFor();

    const collection = main.getByRole('region', { name: 'Collection' });
    const text = (await collection.innerText()).replace(/\s+/g, ' ');
    assert.match(text, new RegExp(`Ready to collect\\. Your order is waiting for you at ${STORE_NAME}\\.`), text);
    assert.match(text, new RegExp(`Collect from ${STORE_NAME} \\(store ${STORE_CODE}\\)`), text);

    // The progress of a collection, at "Ready to collect".
    const progress = main.getByRole('region', { name: 'Progress' });
    const parcel = progress.getByRole('article', { name: 'Your parcel' });
    assert.match(await parcel.innerText(), /Status:\s*Ready to collect/);
    assert.deepEqual(await stepTexts(parcel.getByRole('list', { name: 'Your parcel: progress' })), [
      'Placed (done)',
      'Packed (done)',
      'On its way to the store (done)',
      'Ready to collect (current step)',
      'Collected (to come)',
    ]);
    assert.equal(await main.getByRole('region', { name: 'Delivery' }).count(), 0, 'no delivery section');
    assert.doesNotMatch(await main.innerText(), /Delivering to|Estimated delivery|Expected in store/, 'no delivery estimate');
    await axe.check(page, 'the tracking page of an order ready to collect');
  });

  step('a delivered order shows Delivered, a "Start a return" link to the brand site and the return-by date', async () => {
    await server.as(
      'marketing',
      `mutation($input: UpdateBrandInput!) { updateBrand(input: $input) { brand { websiteUrl } userErrors { field code message } } }`,
      { input: { websiteUrl: `${WEBSITE}/` } },
    );
    const { order, url, returnableUntil } = await deliveredOrder();
    const page = await open(url);
    const main = page.getByRole('main');
    await main.getByRole('heading', { level: 1, name: `Order ${order.number}` }).waitFor();

    const parcel = main.getByRole('region', { name: 'Delivery' }).getByRole('article', { name: 'Your parcel' });
    assert.match(await parcel.innerText(), /Status:\s*Delivered/);
    const progress = parcel.getByRole('list', { name: 'Your parcel: progress' });
    assert.deepEqual(await stepTexts(progress), [
      'Placed (done)',
      'Packed (done)',
      'Dispatched (done)',
      'Out for delivery (done)',
      'Delivered (done)',
    ]);
    assert.equal((await progress.locator('[aria-current="step"]').innerText()).split('\n')[0].trim(), 'Delivered');
    assert.doesNotMatch(await main.innerText(), /Estimated delivery/, 'no estimate once delivered');

    const returns = main.getByRole('region', { name: 'Returns' });
    const returnsText = (await returns.innerText()).replace(/\s+/g, ' ');
    assert.ok(
      returnsText.includes(`You can return items from this order until ${await longDay(page, returnableUntil)}.`),
      returnsText,
    );
    const start = returns.getByRole('link', { name: 'Start a return', exact: true });
    assert.equal(await start.getAttribute('href'), `${WEBSITE}/returns?order=${encodeURIComponent(order.number)}`);
    await axe.check(page, 'the tracking page of a delivered order');
  });

  step("the header shows the brand's logo, named by the brand, and the name when the logo fails", async () => {
    const {
      updateBrand: { brand },
    } = await server.as(
      'marketing',
      `mutation($input: UpdateBrandInput!) { updateBrand(input: $input) { brand { name logoUrl } userErrors { field code message } } }`,
      { input: { logoUrl: LOGO } },
    );
    assert.equal(brand.logoUrl, LOGO);
    const { order, url } = await deliveredOrder();

    // The logo host answers (only for this page) with a small PNG.
    let served = 0;
    const page = await open(url, {
      setup: (p) =>
        p.route(LOGO, (route) => {
          served++;
          return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
        }),
    });
    await page.getByRole('heading', { level: 1, name: `Order ${order.number}` }).waitFor();
    const logo = page.getByRole('banner').getByRole('img', { name: brand.name, exact: true });
    await logo.waitFor();
    assert.equal(await logo.getAttribute('alt'), brand.name);
    assert.equal(await logo.getAttribute('src'), LOGO);
    await eventually(() => logo.evaluate((img) => img.complete && img.naturalWidth > 0), { what: 'the logo loaded' });
    assert.ok(served >= 1, 'the logo was requested from its URL');
    await axe.check(page, 'the tracking page with a logo');

    // Where the logo cannot load (here: every other host is refused), the name is shown instead.
    const blocked = await open(url);
    await blocked.getByRole('heading', { level: 1, name: `Order ${order.number}` }).waitFor();
    const banner = blocked.getByRole('banner');
    await eventually(async () => (await banner.innerText()).trim() === brand.name, { what: 'the brand name replaces the logo' });
    assert.equal(await banner.getByRole('img').count(), 0, 'no broken image');
  });

  test('every new tracking page state passes axe (WCAG 2 A and AA)', () => {
    axe.assertClean(
      [
        'the tracking page of an order ready to collect',
        'the tracking page of a delivered order',
        'the tracking page with a logo',
      ],
      { partial: !!step.failed() },
    );
  });

  test('the tracking pages threw no uncaught error', () => assertNoPageErrors(pages));
});
