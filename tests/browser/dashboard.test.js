// The experience dashboard in the studio: an agent (who sees only the dashboard) and a marketing
// user read figures that match the API's experienceMetrics for the same range and channel.

import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  Server,
  AxeAudit,
  STUDIO_TOKEN_KEY,
  SHIRT,
  assertNoPageErrors,
  atHours,
  day,
  dispatch,
  eventually,
  launchBrowser,
  newPage,
  recordTracking,
  reportFailure,
  scenario,
  screenshot,
  seedCatalog,
} from './harness.js';

const USER_ERRORS = 'userErrors { field code message }';
const ORDERS_CHART = 'Orders placed per period by channel';

let nextRef = 1;

/** placeOrder as a service in `channel`, placed `daysAgo` days ago (at midnight UTC). */
async function placeOrderIn(server, channel, daysAgo, customer) {
  const input = {
    channel,
    channelOrderRef: `DASH-${process.pid}-${nextRef++}`,
    customer,
    lines: [{ sku: SHIRT, quantity: 1 }],
    placedAt: `${day(-daysAgo)}T00:00:00Z`,
    delivery: {
      method: 'SHIP_TO_ADDRESS',
      address: {
        name: `${customer.firstName} ${customer.lastName}`,
        line1: 'Damrak 1',
        city: 'Amsterdam',
        postalCode: '1012 LG',
        countryCode: 'NL',
        location: { latitude: 52.376, longitude: 4.895 },
      },
    },
  };
  const data = await server.as(
    'service',
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
      order { id number shipments { id } } ${USER_ERRORS} } }`,
    { input },
  );
  return data.placeOrder.order;
}

const FROM = day(-89);
const TO = day(0);

async function ordersPlaced(server, channel) {
  const data = await server.as(
    'agent',
    `query($from: Date!, $to: Date!, $channel: Channel) {
      experienceMetrics(from: $from, to: $to, channel: $channel) { overall { ordersPlaced } } }`,
    { from: FROM, to: TO, channel: channel ?? null },
  );
  return data.experienceMetrics.overall.ordersPlaced;
}

describe('experience dashboard', { timeout: 120_000 }, () => {
  const step = scenario({ dependent: true });
  const axe = new AxeAudit();
  let server;
  let browser;
  let page;
  const pages = [];

  before(async () => {
    [server, browser] = await Promise.all([Server.start(), launchBrowser()]);
    await seedCatalog(server);
    const ada = { email: 'ada@example.test', firstName: 'Ada', lastName: 'Lovelace' };
    const grace = { email: 'grace@example.test', firstName: 'Grace', lastName: 'Hopper' };
    const alan = { email: 'alan@example.test', firstName: 'Alan', lastName: 'Turing' };
    // Five WEB orders and three APP orders over the last five weeks; Ada comes back.
    const placed = [];
    for (const [channel, daysAgo, customer] of [
      ['WEB', 33, ada],
      ['WEB', 26, grace],
      ['APP', 24, alan],
      ['WEB', 19, ada],
      ['APP', 12, alan],
      ['WEB', 9, grace],
      ['APP', 5, ada],
      ['WEB', 2, alan],
    ]) {
      placed.push(await placeOrderIn(server, channel, daysAgo, customer));
    }
    // Two are dispatched and delivered.
    for (const [i, order] of placed.slice(0, 2).entries()) {
      const trackingNumber = `3SDASH00000${i}`;
      await dispatch(server, order.shipments[0].id, trackingNumber);
      await recordTracking(server, { trackingNumber, status: 'DELIVERED', occurredAt: atHours(-1) });
    }
  });

  after(async () => {
    if (step.failed()) reportFailure(server, pages);
    await browser?.close();
    await server?.stop();
  });

  const tile = (id) => page.getByTestId(`tile-${id}`);

  step('an agent signs in and sees only the dashboard, with the API\'s order count', async () => {
    page = await newPage(browser, { width: 1440, height: 900 });
    pages.push(page);
    await page.goto(`${server.url}/studio`);
    await page.getByLabel('Token').fill(server.token('agent', { sub: 'alex-agent' }));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Experience dashboard' }).waitFor();

    const nav = page.getByRole('navigation', { name: 'Studio sections' });
    assert.equal(await nav.getByRole('link', { name: 'Dashboard', exact: true }).getAttribute('aria-current'), 'page');
    assert.equal(await nav.getByRole('link', { name: 'Templates', exact: true }).count(), 0, 'no Templates for agents');
    assert.equal(await nav.getByRole('link', { name: 'Brand', exact: true }).count(), 0, 'no Brand for agents');
    assert.match(await page.title(), /^Dashboard · Template studio/);

    assert.equal(await page.getByLabel('From', { exact: true }).inputValue(), FROM);
    assert.equal(await page.getByLabel('To', { exact: true }).inputValue(), TO);

    const expected = await ordersPlaced(server);
    assert.equal(expected, 8, 'the seeded orders');
    await eventually(async () => (await tile('ordersPlaced').innerText()).trim() === String(expected), {
      what: `the Orders placed tile shows ${expected}`,
    });
    await page.getByRole('img', { name: new RegExp(ORDERS_CHART) }).waitFor();
    await screenshot(page, 'dashboard.png');
  });

  step('the orders chart is named and its data table lists the periods', async () => {
    const chart = page.getByRole('img', { name: new RegExp(ORDERS_CHART) });
    await chart.waitFor();
    const figure = page.locator('figure', { has: page.locator('figcaption', { hasText: ORDERS_CHART }) });
    await figure.getByText('Show data').click();
    const table = figure.getByRole('table');
    await table.waitFor();
    const { experienceMetrics } = await server.as(
      'agent',
      `query($from: Date!, $to: Date!) { experienceMetrics(from: $from, to: $to) {
        series(interval: WEEK) { from to overall { ordersPlaced } } } }`,
      { from: FROM, to: TO },
    );
    const rows = await table.locator('tbody tr').allInnerTexts();
    assert.equal(rows.length, experienceMetrics.series.length, 'one row per period');
    for (const [i, period] of experienceMetrics.series.entries()) {
      assert.ok(rows[i].includes(period.from), `row ${i} names the period from ${period.from}: ${rows[i]}`);
      assert.ok(rows[i].trim().endsWith(String(period.overall.ordersPlaced)), `row ${i} total: ${rows[i]}`);
    }
    const headers = await table.locator('thead th').allInnerTexts();
    assert.deepEqual(headers, ['Period', 'App', 'Web', 'Total']);
    await page.getByRole('img', { name: /Repeat purchase by first-order experience/ }).waitFor();
    await axe.check(page, 'the dashboard with data');
  });

  step('choosing the APP channel shows the APP count', async () => {
    const expected = await ordersPlaced(server, 'APP');
    assert.equal(expected, 3);
    await page.getByLabel('Channel', { exact: true }).selectOption('APP');
    await eventually(async () => (await tile('ordersPlaced').innerText()).trim() === String(expected), {
      what: `the Orders placed tile shows ${expected}`,
    });
    await page.getByLabel('Interval', { exact: true }).selectOption('MONTH');
    await eventually(async () => !(await page.getByRole('status').innerText()).includes('Loading'), { what: 'loaded' });
    assert.equal((await tile('ordersPlaced').innerText()).trim(), String(expected));
  });

  step('a range without orders says so', async () => {
    await page.getByLabel('From', { exact: true }).fill(day(-400));
    await page.getByLabel('To', { exact: true }).fill(day(-380));
    const empty = page.getByTestId('dashboard-empty');
    await empty.waitFor();
    assert.match(await empty.innerText(), /No orders were placed/);
    assert.equal(await page.getByRole('img', { name: new RegExp(ORDERS_CHART) }).count(), 0, 'no empty charts');
    await axe.check(page, 'the dashboard without orders');
  });

  step('a marketing user sees all three sections and the dashboard', async () => {
    const other = await newPage(browser, { width: 1280, height: 900 });
    pages.push(other);
    await other.goto(`${server.url}/studio`);
    await other.evaluate(([key, value]) => sessionStorage.setItem(key, value), [STUDIO_TOKEN_KEY, server.token('marketing')]);
    await other.reload();
    await other.getByRole('heading', { level: 1, name: 'Email templates' }).waitFor();
    const nav = other.getByRole('navigation', { name: 'Studio sections' });
    for (const name of ['Templates', 'Brand', 'Dashboard']) {
      assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 1, name);
    }
    await nav.getByRole('link', { name: 'Dashboard', exact: true }).click();
    await other.getByRole('heading', { level: 1, name: 'Experience dashboard' }).waitFor();
    const expected = await ordersPlaced(server);
    await eventually(async () => (await other.getByTestId('tile-ordersPlaced').innerText()).trim() === String(expected), {
      what: `the marketing user's Orders placed tile shows ${expected}`,
    });
  });

  step('a refused token signs out with a clear message', async () => {
    const other = await newPage(browser, { width: 1280, height: 900 });
    pages.push(other);
    await other.goto(`${server.url}/studio#/dashboard`);
    await other.evaluate(([key]) => sessionStorage.setItem(key, 'not-a-real-token'), [STUDIO_TOKEN_KEY]);
    await other.reload();
    const alert = other.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /This token was refused:.*\(UNAUTHENTICATED\)/);
  });

  step('no accessibility violations and no page errors', async () => {
    axe.assertClean(['the dashboard with data', 'the dashboard without orders']);
    assertNoPageErrors(pages);
  });
});
