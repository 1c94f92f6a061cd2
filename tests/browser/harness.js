// The browser-test harness: the real `touchpoint` binary on a free port with a fresh SQLite
// database and mail directory, tokens minted by `touchpoint token`, a GraphQL client, Debian's
// Chromium driven by playwright-core, axe-core, screenshots and condition polling.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

export const REPO = resolve(here, '..', '..');
export const SCREENSHOTS = join(REPO, 'docs', 'screenshots');
export const CHROMIUM = process.env.TOUCHPOINT_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The server binary: $TOUCHPOINT_BIN, else the debug build in $CARGO_TARGET_DIR (or target/). */
export function binaryPath() {
  if (process.env.TOUCHPOINT_BIN) return process.env.TOUCHPOINT_BIN;
  const targetDir = process.env.CARGO_TARGET_DIR
    ? resolve(REPO, process.env.CARGO_TARGET_DIR)
    : join(REPO, 'target');
  return join(targetDir, 'debug', 'touchpoint');
}

// ---------------------------------------------------------------------------------- waiting

/**
 * Calls `check` until it neither throws nor returns false or null; returns what it returned.
 * On timeout, throws the last failure, so the report says what was still wrong.
 */
export async function eventually(check, { timeout = 10_000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    let last;
    try {
      const value = await check();
      if (value !== false && value !== null) return value;
      last = new Error(`not yet (got ${value})`);
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: still failing after ${timeout} ms: ${last.message}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// ---------------------------------------------------------------------------------- the server

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** Servers not stopped yet; killed if the test process exits without stopping them. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A running `touchpoint serve` with its own temporary directory (database + mail). */
export class Server {
  constructor({ port, dir, child, log, proxy }) {
    this.port = port;
    this.dir = dir;
    this.child = child;
    this.log = log;
    this.proxy = proxy;
    /** Where the pages and the API are reached (the server itself, or the page proxy). */
    this.url = proxy ? proxy.url : `http://127.0.0.1:${port}`;
    if (proxy) proxy.backend = `http://127.0.0.1:${port}`;
    this.mailDir = join(dir, 'mail');
    this.tokens = new Map();
  }

  /**
   * Starts the binary and waits for /readyz. `demo` seeds the demo dataset (off by default:
   * the tests build their own catalogue so they do not depend on the demo's contents).
   */
  static async start({ demo = false, extraArgs = [] } = {}) {
    const bin = binaryPath();
    if (!existsSync(bin)) {
      throw new Error(`no server binary at ${bin}: run \`cargo build --bin touchpoint\` (or set TOUCHPOINT_BIN)`);
    }
    let lastError;
    // TOUCHPOINT_WEB_DIST: serve the pages from that directory (a web/dist being worked on)
    // through a proxy in front of the server, so web/ changes need no rebuilt binary.
    const dist = process.env.TOUCHPOINT_WEB_DIST;
    const proxy = dist ? await startPageProxy(resolve(dist)) : null;
    // A free port can be taken between choosing it and binding it; try a few.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'touchpoint-browser-'));
      mkdirSync(join(dir, 'mail'));
      const args = [
        'serve',
        '--listen', `127.0.0.1:${port}`,
        '--database-url', `sqlite://${join(dir, 't.db')}?mode=rwc`,
        '--mail-dir', join(dir, 'mail'),
        '--public-url', proxy ? proxy.url : `http://127.0.0.1:${port}`,
        '--mail-poll', '100ms',
        '--dispatch-poll', '100ms',
        '--mail-retry-base', '200ms',
        '--shutdown-grace', '2s',
        demo ? '--demo' : '--no-demo',
        ...extraArgs,
      ];
      const env = { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info' };
      // The server's own settings come from the flags above, not from the caller's environment.
      for (const key of Object.keys(env)) {
        if (key.startsWith('TOUCHPOINT_') && key !== 'TOUCHPOINT_JWT_SECRET') delete env[key];
      }
      delete env.DATABASE_URL;
      const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(child);
      child.on('exit', () => running.delete(child));
      const log = [];
      const keep = (chunk) => {
        log.push(chunk.toString());
        if (log.length > 2000) log.splice(0, log.length - 2000);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let exited = null;
      child.on('exit', (code, signal) => {
        exited = { code, signal };
      });
      const server = new Server({ port, dir, child, log, proxy });
      try {
        await eventually(
          async () => {
            if (exited) {
              throw new Error(`the server exited (${JSON.stringify(exited)}) before it was ready`);
            }
            const res = await fetch(`http://127.0.0.1:${port}/readyz`);
            if (!res.ok) throw new Error(`/readyz answered ${res.status}`);
            return true;
          },
          { timeout: 30_000, interval: 50, what: `${bin} ready on port ${port}` },
        );
        return server;
      } catch (error) {
        lastError = new Error(`${error.message}\n--- server log ---\n${server.logText()}`);
        await server.stop({ keepProxy: true });
        if (!/address|in use/i.test(server.logText())) break;
      }
    }
    if (proxy) await new Promise((r) => proxy.server.close(r));
    throw lastError;
  }

  logText() {
    return this.log.join('').replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** SIGTERM, wait for the exit (SIGKILL after 10 s), then delete the temporary directory. */
  async stop({ keepProxy = false } = {}) {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (this.proxy && !keepProxy && !this.proxyClosed) {
      this.proxyClosed = true;
      this.proxy.server.closeAllConnections();
      await new Promise((r) => this.proxy.server.close(r));
    }
    if (!process.env.TOUCHPOINT_KEEP_TMP) rmSync(this.dir, { recursive: true, force: true });
  }

  /** A JWT for `role` from `touchpoint token` (the dev secret, as the server uses). */
  token(role, { customer, sub, ttl = '1h' } = {}) {
    const key = JSON.stringify([role, customer, sub, ttl]);
    if (!this.tokens.has(key)) {
      const args = ['token', '--role', role, '--ttl', ttl];
      if (customer) args.push('--customer', customer);
      if (sub) args.push('--sub', sub);
      const token = execFileSync(binaryPath(), args, { encoding: 'utf8' }).trim();
      this.tokens.set(key, token);
    }
    return this.tokens.get(key);
  }

  /** POST /graphql; returns the whole response ({ data, errors }). */
  async gql(token, query, variables = {}) {
    return gql(this.url, token, query, variables);
  }

  /** POST /graphql as `role`; throws on top-level errors or on userErrors in any payload. */
  async as(role, query, variables = {}) {
    const resp = await this.gql(this.token(role), query, variables);
    return expectData(resp);
  }

  /** The .eml files written so far: [{ name, text }], sorted by name. */
  mails() {
    if (!existsSync(this.mailDir)) return [];
    return readdirSync(this.mailDir, { recursive: true })
      .map(String)
      .filter((name) => name.endsWith('.eml'))
      .sort()
      .map((name) => ({ name, text: readFileSync(join(this.mailDir, name), 'utf8') }));
  }
}

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** The page routes the server answers, served from `dist`; everything else goes to the server. */
async function startPageProxy(dist) {
  const proxy = { backend: null, url: null, server: null };
  const server = createHttpServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    let file = null;
    if (/^\/studio\/?$/.test(path)) file = 'studio/index.html';
    else if (/^\/track\/[^/.]+\/?$/.test(path)) file = 'track/index.html';
    else if (/^\/assets\/[\w.-]+$/.test(path)) file = path.slice(1);
    if (file) {
      const full = join(dist, file);
      if (!existsSync(full)) {
        res.writeHead(404).end('not found');
        return;
      }
      const ext = full.slice(full.lastIndexOf('.'));
      res.writeHead(200, { 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream' });
      res.end(readFileSync(full));
      return;
    }
    const target = new URL(req.url, proxy.backend);
    const upstream = httpRequest(
      target,
      { method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => res.writeHead(502).end(String(e)));
    req.pipe(upstream);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.server = server;
  proxy.url = `http://127.0.0.1:${server.address().port}`;
  return proxy;
}

/** POST `${url}/graphql` with a bearer token (or none); returns the parsed JSON body. */
export async function gql(url, token, query, variables = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`POST /graphql answered ${res.status} with a body that is not JSON:\n${text}`);
  }
}

/** `resp.data`, after checking there are no top-level errors and no userErrors in any payload. */
export function expectData(resp) {
  if (resp.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(resp.errors, null, 2)}`);
  for (const [field, payload] of Object.entries(resp.data ?? {})) {
    if (payload && Array.isArray(payload.userErrors) && payload.userErrors.length) {
      throw new Error(`${field} userErrors: ${JSON.stringify(payload.userErrors, null, 2)}`);
    }
  }
  return resp.data;
}

// ---------------------------------------------------------------------------------- the browser

/** Debian's Chromium through playwright-core; each launch has a fresh temporary profile. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
}

/**
 * A page of a fresh context with a fixed viewport. Console errors and failed requests are
 * collected on `page.problems` so a test can print them when it fails.
 */
export async function newPage(browser, { width = 1280, height = 800 } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(10_000);
  // Hermetic: nothing leaves the machine (an email preview may link web fonts, for example).
  await context.route(
    (url) => url.hostname !== '127.0.0.1' && url.hostname !== 'localhost',
    (route) => route.abort('blockedbyclient'),
  );
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  return page;
}

/** Writes docs/screenshots/<name> (viewport only, so the size is fixed). */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name), animations: 'disabled', caret: 'hide' });
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core (wcag2a + wcag2aa) on the page as it is now; returns the violations, each as
 * readable text. The contents of iframes (the email preview, whose markup is the template's,
 * not the studio's) are not audited; the iframe element itself is.
 */
export async function axeViolations(page) {
  // Through the DevTools protocol, not a <script> tag: the pages' CSP forbids inline scripts.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] },
      iframes: false,
      resultTypes: ['violations'],
    }),
  );
  return result.violations.map((v) => {
    const nodes = v.nodes
      .slice(0, 5)
      .map((n) => `      ${n.target.join(' ')}: ${n.failureSummary?.replace(/\s+/g, ' ')}`)
      .join('\n');
    return `  [${v.impact}] ${v.id}: ${v.help} (${v.nodes.length} node(s))\n${nodes}`;
  });
}

/**
 * Collects axe results of several page states, so one inaccessible state does not stop the
 * steps after it; `assertClean` fails with the whole list.
 */
export class AxeAudit {
  constructor() {
    this.states = [];
  }

  async check(page, what) {
    this.states.push({ what, violations: await axeViolations(page) });
  }

  /** Fails when a state had violations, or (unless `partial`) when one of `expected` was not audited. */
  assertClean(expected, { partial = false } = {}) {
    const audited = this.states.map((s) => s.what);
    if (!partial) for (const what of expected) assert.ok(audited.includes(what), `${what} was audited (audited: ${audited.join('; ')})`);
    const failing = this.states.filter((s) => s.violations.length);
    if (failing.length) {
      const report = failing.map((s) => `${s.what}:\n${s.violations.join('\n')}`).join('\n');
      assert.fail(`axe found WCAG 2 A/AA violations:\n${report}`);
    }
  }
}

/**
 * Tests of one file, with a record of the first failure. With `dependent` (steps that build on
 * each other) the steps after a failure are skipped rather than timed out one by one, so the
 * first failure is the one reported.
 */
export function scenario({ dependent = true } = {}) {
  let failed = null;
  const step = (name, fn) =>
    test(name, async (t) => {
      if (failed && dependent) {
        t.skip(`skipped: "${failed}" failed`);
        return;
      }
      try {
        await fn(t);
      } catch (error) {
        failed ??= name;
        throw error;
      }
    });
  /** The name of the first step that failed, if one did. */
  step.failed = () => failed;
  return step;
}

/** Messages a page may log that say nothing about the page (blocked off-machine requests). */
const EXPECTED_CONSOLE = [
  /ERR_BLOCKED_BY_CLIENT|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED/,
  /fonts\.googleapis\.com/, // the email layout's web font, refused by the studio's CSP
];

/** What the pages logged, minus the expected noise; for a failure report. */
export function consoleReport(pages) {
  return pages
    .flatMap((page) => page.problems)
    .filter((line) => !EXPECTED_CONSOLE.some((re) => re.test(line)));
}

/** After a failure: the pages' console errors and the end of the server's log. */
export function reportFailure(server, pages) {
  const lines = consoleReport(pages);
  if (lines.length) console.log(`browser console:\n  ${lines.join('\n  ')}`);
  if (server) {
    const log = server.logText().trimEnd().split('\n').slice(-60).join('\n');
    console.log(`server log (last lines):\n${log}`);
  }
}

/** Fails when a page threw an uncaught exception. */
export function assertNoPageErrors(pages) {
  const errors = pages.flatMap((page) => page.problems).filter((line) => line.startsWith('pageerror:'));
  assert.deepEqual(errors, [], 'no uncaught errors on the pages');
}

// ---------------------------------------------------------------------------------- fixtures

export const CARRIER = 'PostNL';
export const SHIRT = 'SKU-1';
export const TOTE = 'SKU-2';

/** Today (UTC) plus `days`, as YYYY-MM-DD. */
export function day(days) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Now plus `hours`, RFC 3339 with whole seconds. */
export function atHours(hours) {
  return new Date(Date.now() + hours * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
}

const USER_ERRORS = 'userErrors { field code message }';

export const SHIPMENT_FIELDS = `id status carrier trackingNumber trackingUrl estimatedDeliveryDate
  isDelayed location { code }`;

/** Two products, a warehouse near Rotterdam and a store in Amsterdam, with stock. */
export async function seedCatalog(server) {
  for (const [sku, name, amount] of [
    [SHIRT, 'Linen shirt', '19.90'],
    [TOTE, 'Canvas tote', '12.50'],
  ]) {
    await server.as(
      'service',
      `mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { sku } ${USER_ERRORS} } }`,
      { input: { sku, name, returnable: true, price: { amount, currencyCode: 'EUR' } } },
    );
  }
  for (const [code, kind, name, latitude, longitude] of [
    ['WH-1', 'WAREHOUSE', 'Rotterdam warehouse', 51.92, 4.48],
    ['ST-1', 'STORE', 'Amsterdam Damrak', 52.37, 4.9],
  ]) {
    const store = kind === 'STORE';
    await server.as(
      'service',
      `mutation($input: UpsertLocationInput!) { upsertLocation(input: $input) { location { code } ${USER_ERRORS} } }`,
      {
        input: {
          code,
          name,
          kind,
          location: { latitude, longitude },
          pickupPoint: store,
          returnPoint: store,
          shippingCost: { amount: '4.95', currencyCode: 'EUR' },
          handlingDays: 1,
        },
      },
    );
    for (const sku of [SHIRT, TOTE]) {
      await server.as(
        'service',
        `mutation($input: SetStockLevelInput!) { setStockLevel(input: $input) { stockLevel { sku } ${USER_ERRORS} } }`,
        { input: { locationCode: code, sku, onHand: store ? 5 : 50 } },
      );
    }
  }
}

let nextRef = 1;

/**
 * placeOrder as a service: a WEB order shipped to Amsterdam (or with `delivery` instead); returns
 * the order with shipments.
 */
export async function placeOrder(server, { lines = [[SHIRT, 1]], promisedDate, customer, delivery } = {}) {
  const input = {
    channel: 'WEB',
    channelOrderRef: `BROWSER-${process.pid}-${nextRef++}`,
    customer: customer ?? { email: 'ada@example.test', firstName: 'Ada', lastName: 'Lovelace' },
    lines: lines.map(([sku, quantity]) => ({ sku, quantity })),
    // Midnight today (UTC): a time of day that does not change from run to run.
    placedAt: `${day(0)}T00:00:00Z`,
    // `delivery` (e.g. { method: 'CLICK_AND_COLLECT', collectionStoreCode }) replaces the address.
    delivery: delivery ? { ...delivery, ...(promisedDate ? { promisedDate } : {}) } : {
      method: 'SHIP_TO_ADDRESS',
      address: {
        name: 'Ada Lovelace',
        line1: 'Damrak 1',
        city: 'Amsterdam',
        postalCode: '1012 LG',
        countryCode: 'NL',
        location: { latitude: 52.376, longitude: 4.895 },
      },
      ...(promisedDate ? { promisedDate } : {}),
    },
  };
  const data = await server.as(
    'service',
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
      order { id number status customer { id } shipments { ${SHIPMENT_FIELDS} } } ${USER_ERRORS} } }`,
    { input },
  );
  return data.placeOrder.order;
}

/** updateShipmentStatus DISPATCHED with a carrier, tracking number and carrier URL. */
export async function dispatch(server, shipmentId, trackingNumber) {
  const data = await server.as(
    'service',
    `mutation($input: UpdateShipmentStatusInput!) { updateShipmentStatus(input: $input) {
      shipment { ${SHIPMENT_FIELDS} } ${USER_ERRORS} } }`,
    {
      input: {
        shipmentId,
        status: 'DISPATCHED',
        carrier: CARRIER,
        trackingNumber,
        trackingUrl: `https://track.example.test/${trackingNumber}`,
      },
    },
  );
  return data.updateShipmentStatus.shipment;
}

/** recordTrackingEvent as the carrier; returns the shipment. */
export async function recordTracking(server, input) {
  const data = await server.as(
    'service',
    `mutation($input: RecordTrackingEventInput!) { recordTrackingEvent(input: $input) {
      shipment { ${SHIPMENT_FIELDS} } ${USER_ERRORS} } }`,
    { input: { carrier: CARRIER, ...input } },
  );
  return data.recordTrackingEvent.shipment;
}

export const COMMUNICATION_FIELDS = 'id kind to subject html text status lastError templateVersion sentAt';

/** The order's communications as an agent reads them (with their bodies). */
export async function communications(server, orderId) {
  const data = await server.as(
    'agent',
    `query($id: ID!) { order(id: $id) { communications { ${COMMUNICATION_FIELDS} } } }`,
    { id: orderId },
  );
  if (!data.order) throw new Error(`an agent cannot read order ${orderId}`);
  return data.order.communications;
}

/** Polls (as an agent) until the order's communication of `kind` is SENT; returns it. */
export async function waitUntilSent(server, orderId, kind, { timeout = 15_000 } = {}) {
  let seen = [];
  try {
    return await eventually(
      async () => {
        seen = await communications(server, orderId);
        return seen.find((c) => c.kind === kind && c.status === 'SENT') ?? false;
      },
      { timeout, what: `a SENT ${kind} communication` },
    );
  } catch (error) {
    error.message += `\nthe order's communications: ${JSON.stringify(
      seen.map(({ kind: k, status, lastError }) => ({ kind: k, status, lastError })),
    )}`;
    throw error;
  }
}

/**
 * The decoded text of an .eml file: headers, then each part's body decoded from
 * quoted-printable or base64 (as UTF-8), so a test can search it for what a reader sees.
 */
export function decodeEml(raw) {
  const out = [];
  const parts = raw.split(/\r?\n--[^\r\n]+\r?\n/);
  for (const part of parts) {
    const split = part.search(/\r?\n\r?\n/);
    if (split < 0) {
      out.push(part);
      continue;
    }
    const headers = part.slice(0, split);
    const body = part.slice(split).replace(/^\r?\n\r?\n/, '');
    const encoding = /content-transfer-encoding:\s*([\w-]+)/i.exec(headers)?.[1]?.toLowerCase();
    out.push(headers);
    if (encoding === 'quoted-printable') {
      const bytes = body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      out.push(Buffer.from(bytes, 'latin1').toString('utf8'));
    } else if (encoding === 'base64') {
      out.push(Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8'));
    } else {
      out.push(body);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------- studio

/** The key the studio keeps its token under in sessionStorage (see web/README.md). */
export const STUDIO_TOKEN_KEY = 'touchpoint.studio.token';

/**
 * Opens /studio already signed in with `token` (set in sessionStorage, then reloaded, as
 * web/README.md allows), and waits for the template list.
 */
export async function openStudio(page, server, token) {
  await page.goto(`${server.url}/studio`);
  await page.evaluate(([key, value]) => sessionStorage.setItem(key, value), [STUDIO_TOKEN_KEY, token]);
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Email templates' }).waitFor();
}

/**
 * Replaces the whole document of a CodeMirror editor (a `textbox` locator) the way a user pastes
 * over a selection; waits until the editor shows `expected`.
 */
export async function pasteOver(page, box, text, expected) {
  await box.click();
  await page.keyboard.press('ControlOrMeta+A');
  await box.evaluate((el, value) => {
    const data = new DataTransfer();
    data.setData('text/plain', value);
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, text);
  await eventually(async () => (await box.innerText()).includes(expected), {
    what: 'the editor shows the pasted text',
  });
}
