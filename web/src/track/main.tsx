// The branded order tracking page at /track/<token>: anonymous, the token in the link is the
// only credential, and it shows nothing personal beyond the delivery town.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { graphql, type Brand } from '../shared/graphql';
import { inkOn, isHexColour, textColourOn } from '../shared/colour';
import '../shared/base.css';
import './track.css';

interface TrackingEvent {
  status: string;
  description: string | null;
  occurredAt: string;
  location: string | null;
  estimatedDeliveryDate: string | null;
}

interface TrackedShipment {
  status: string;
  carrier: string | null;
  trackingNumber: string | null;
  trackingUrl: string | null;
  estimatedDeliveryDate: string | null;
  isDelayed: boolean;
  events: TrackingEvent[];
}

interface TrackedOrder {
  number: string;
  status: string;
  placedAt: string;
  lines: { name: string; quantity: number; imageUrl: string | null }[];
  deliveryMethod: string;
  deliveryTown: string | null;
  collectionStore: { name: string; code: string } | null;
  promisedDate: string | null;
  estimatedDeliveryDate: string | null;
  isDelayed: boolean;
  shipments: TrackedShipment[];
  returnableUntil: string | null;
}

interface ReturnPolicy {
  windowDays: number;
  inStoreRefundDays: number;
  carrierRefundDays: number;
  dropOffRefundDays: number;
}

interface TrackData {
  trackedOrder: TrackedOrder | null;
  brand: Brand;
  returnPolicy: ReturnPolicy;
}

const QUERY = `query TrackingPage($token: String!) {
  trackedOrder(token: $token) {
    number status placedAt
    lines { name quantity imageUrl }
    deliveryMethod deliveryTown
    collectionStore { name code }
    promisedDate estimatedDeliveryDate isDelayed
    shipments {
      status carrier trackingNumber trackingUrl estimatedDeliveryDate isDelayed
      events { status description occurredAt location estimatedDeliveryDate }
    }
    returnableUntil
  }
  brand { name logoUrl primaryColor supportEmail supportPhone websiteUrl }
  returnPolicy { windowDays inStoreRefundDays carrierRefundDays dropOffRefundDays }
}`;

function tokenFromPath(): string {
  const segments = location.pathname.split('/').filter(Boolean);
  const last = segments[segments.length - 1] ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

// ---------------------------------------------------------------- dates

/** A `Date` scalar ("2026-11-27") as a local calendar day, so it never shifts by a time zone. */
function parseDay(value: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(value);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

function formatDay(value: string | null | undefined): string {
  if (!value) return '';
  const d = parseDay(value);
  return d ? d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) : value;
}

function formatMoment(value: string): string {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return d.toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function todayIso(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- statuses

const SHIPMENT_STATUS_TEXT: Record<string, string> = {
  PENDING: 'Order placed',
  PICKING: 'Being packed',
  DISPATCHED: 'Dispatched',
  IN_TRANSIT: 'On its way',
  OUT_FOR_DELIVERY: 'Out for delivery',
  DELIVERED: 'Delivered',
  EXCEPTION: 'Delivery problem',
  READY_FOR_COLLECTION: 'Ready to collect',
  COLLECTED: 'Collected',
  CANCELLED: 'Cancelled',
};

const ORDER_STATUS_TEXT: Record<string, string> = {
  PLACED: 'Order placed',
  PROCESSING: 'Being prepared',
  PARTIALLY_DISPATCHED: 'Partly dispatched',
  DISPATCHED: 'Dispatched',
  READY_FOR_COLLECTION: 'Ready to collect',
  PARTIALLY_DELIVERED: 'Partly delivered',
  DELIVERED: 'Delivered',
  CANCELLED: 'Cancelled',
};

// Output enums may gain values: anything unknown reads as "other".
const shipmentText = (s: string) => SHIPMENT_STATUS_TEXT[s] ?? 'In progress';
const orderText = (s: string) => ORDER_STATUS_TEXT[s] ?? 'In progress';

interface Step {
  label: string;
  statuses: string[];
}

const DELIVERY_STEPS: Step[] = [
  { label: 'Placed', statuses: ['PENDING'] },
  { label: 'Packed', statuses: ['PICKING'] },
  { label: 'Dispatched', statuses: ['DISPATCHED', 'IN_TRANSIT'] },
  { label: 'Out for delivery', statuses: ['OUT_FOR_DELIVERY'] },
  { label: 'Delivered', statuses: ['DELIVERED'] },
];

const COLLECTION_STEPS: Step[] = [
  { label: 'Placed', statuses: ['PENDING'] },
  { label: 'Packed', statuses: ['PICKING'] },
  { label: 'On its way to the store', statuses: ['DISPATCHED', 'IN_TRANSIT', 'OUT_FOR_DELIVERY'] },
  { label: 'Ready to collect', statuses: ['READY_FOR_COLLECTION'] },
  { label: 'Collected', statuses: ['COLLECTED', 'DELIVERED'] },
];

function stepIndex(steps: Step[], status: string): number {
  return steps.findIndex((s) => s.statuses.includes(status));
}

/** Where the bar stands: the status itself, or for an exception the last known step. */
function progressOf(steps: Step[], shipment: TrackedShipment): number {
  const direct = stepIndex(steps, shipment.status);
  if (direct >= 0) return direct;
  const known = [...shipment.events]
    .sort((a, b) => a.occurredAt.localeCompare(b.occurredAt))
    .map((e) => stepIndex(steps, e.status))
    .filter((i) => i >= 0);
  return known.length ? Math.max(...known) : shipment.status === 'EXCEPTION' ? 2 : -1;
}

// ---------------------------------------------------------------- page

type State =
  | { kind: 'loading' }
  | { kind: 'invalid'; brand: Brand | null }
  | { kind: 'failed' }
  | { kind: 'ready'; data: TrackData & { trackedOrder: TrackedOrder } };

function TrackingPage() {
  const [state, setState] = useState<State>({ kind: 'loading' });

  useEffect(() => {
    const token = tokenFromPath();
    if (!token || token === 'track') {
      setState({ kind: 'invalid', brand: null });
      return;
    }
    graphql<TrackData>(QUERY, { token })
      .then((data) => {
        if (data.trackedOrder) setState({ kind: 'ready', data: data as TrackData & { trackedOrder: TrackedOrder } });
        else setState({ kind: 'invalid', brand: data.brand });
      })
      .catch((err) => {
        // A malformed token is refused like an unknown one; anything else is a temporary failure.
        const code = (err as { code?: string }).code;
        setState(code === 'BAD_USER_INPUT' || code === 'NOT_FOUND' ? { kind: 'invalid', brand: null } : { kind: 'failed' });
      });
  }, []);

  const brand = state.kind === 'ready' ? state.data.brand : state.kind === 'invalid' ? state.brand : null;

  useEffect(() => {
    const name = brand?.name;
    if (state.kind === 'ready') document.title = `Order ${state.data.trackedOrder.number}${name ? ` · ${name}` : ''}`;
    else if (state.kind === 'invalid') document.title = `This tracking link is not valid${name ? ` · ${name}` : ''}`;
    else if (state.kind === 'failed') document.title = 'Track your order';
  }, [state, brand]);

  useEffect(() => {
    const colour = brand && isHexColour(brand.primaryColor) ? brand.primaryColor : '#1f2937';
    const root = document.documentElement.style;
    root.setProperty('--brand', colour);
    root.setProperty('--brand-text', textColourOn(colour));
    // Links sit on white cards and on the grey page (#f3f4f6), the darker of the two.
    root.setProperty('--brand-ink', inkOn(colour, '#f3f4f6'));
  }, [brand]);

  return (
    <>
      <BrandHeader brand={brand} />
      <main id="main" class="track-main">
        {state.kind === 'loading' && (
          <p role="status" class="muted">
            Loading your order…
          </p>
        )}
        {state.kind === 'invalid' && (
          <section class="card">
            <h1>This tracking link is not valid</h1>
            <p>Please check the link in your email.</p>
          </section>
        )}
        {state.kind === 'failed' && (
          <section class="card">
            <h1>We can't show your order right now</h1>
            <p role="alert">Something went wrong while loading it. Please try again in a few minutes.</p>
          </section>
        )}
        {state.kind === 'ready' && <OrderView order={state.data.trackedOrder} brand={state.data.brand} policy={state.data.returnPolicy} />}
      </main>
      {brand && <SupportFooter brand={brand} />}
    </>
  );
}

function BrandHeader({ brand }: { brand: Brand | null }) {
  const [logoFailed, setLogoFailed] = useState(false);
  return (
    <header class="brand-header">
      <div class="brand-inner">
        {brand?.logoUrl && !logoFailed ? (
          <img class="brand-logo" src={brand.logoUrl} alt={brand.name} onError={() => setLogoFailed(true)} />
        ) : (
          <p class="brand-name">{brand?.name ?? ''}</p>
        )}
      </div>
    </header>
  );
}

function OrderView({ order, brand, policy }: { order: TrackedOrder; brand: Brand; policy: ReturnPolicy }) {
  const collection = order.deliveryMethod === 'CLICK_AND_COLLECT';
  const delayedShipments = order.shipments.filter((s) => s.isDelayed);
  const delayed = order.isDelayed || delayedShipments.length > 0;
  const newEstimate =
    delayedShipments.map((s) => s.estimatedDeliveryDate).filter((d): d is string => !!d).sort().pop() ?? order.estimatedDeliveryDate;
  const ready = order.status === 'READY_FOR_COLLECTION' || order.shipments.some((s) => s.status === 'READY_FOR_COLLECTION');
  // Before any shipment exists, the order itself stands on the first steps of the bar.
  const shipments: TrackedShipment[] =
    order.shipments.length > 0
      ? order.shipments
      : order.status === 'CANCELLED'
        ? []
        : [
            {
              status: order.status === 'PROCESSING' ? 'PICKING' : 'PENDING',
              carrier: null,
              trackingNumber: null,
              trackingUrl: null,
              estimatedDeliveryDate: order.estimatedDeliveryDate,
              isDelayed: order.isDelayed,
              events: [],
            },
          ];

  return (
    <>
      <section class="card summary" aria-labelledby="order-heading">
        <h1 id="order-heading">Order {order.number}</h1>
        <p class="order-status">
          <span class="status-pill">{orderText(order.status)}</span>
        </p>
        <dl class="facts">
          <div>
            <dt>Placed</dt>
            <dd>{formatMoment(order.placedAt)}</dd>
          </div>
          {!collection && order.deliveryTown && (
            <div>
              <dt>Delivering to</dt>
              <dd>{order.deliveryTown}</dd>
            </div>
          )}
          {order.estimatedDeliveryDate && !['DELIVERED', 'READY_FOR_COLLECTION', 'CANCELLED'].includes(order.status) && (
            <div>
              <dt>{collection ? 'Expected in store' : 'Estimated delivery'}</dt>
              <dd>{formatDay(order.estimatedDeliveryDate)}</dd>
            </div>
          )}
        </dl>
        {delayed && (
          <div role="alert" class="notice delay">
            <p>
              <strong>Your order is delayed.</strong>{' '}
              {newEstimate
                ? `The new estimated ${collection ? 'collection' : 'delivery'} date is ${formatDay(newEstimate)}`
                : 'We will let you know the new date as soon as we have it'}
              {order.promisedDate && newEstimate && newEstimate !== order.promisedDate ? ` (we had promised ${formatDay(order.promisedDate)}).` : '.'}{' '}
              We're sorry for the wait.
            </p>
          </div>
        )}
        {order.status === 'CANCELLED' && (
          <div class="notice">
            <p>This order was cancelled.</p>
          </div>
        )}
      </section>

      {collection && order.collectionStore && (
        <section class="card" aria-labelledby="collection-heading">
          <h2 id="collection-heading">Collection</h2>
          {ready && (
            <div class="notice ready">
              <p>
                <strong>Ready to collect.</strong> Your order is waiting for you at {order.collectionStore.name}.
              </p>
            </div>
          )}
          <p>
            Collect from <strong>{order.collectionStore.name}</strong>
            <span class="muted"> (store {order.collectionStore.code})</span>
          </p>
          <p class="muted small">Bring your order number, {order.number}.</p>
        </section>
      )}

      <section class="card" aria-labelledby="items-heading">
        <h2 id="items-heading">Your items</h2>
        <ul class="items">
          {order.lines.map((line, i) => (
            <li key={i}>
              <ItemImage name={line.name} url={line.imageUrl} />
              <div>
                <p class="item-name">{line.name}</p>
                <p class="muted small">Quantity: {line.quantity}</p>
              </div>
            </li>
          ))}
        </ul>
      </section>

      {order.deliveryMethod === 'CARRY_OUT' ? (
        <section class="card" aria-labelledby="delivery-heading">
          <h2 id="delivery-heading">Bought in store</h2>
          <p>You took this order with you from the store, so there is nothing to deliver.</p>
        </section>
      ) : shipments.length > 0 && (
        <section class="card" aria-labelledby="delivery-heading">
          <h2 id="delivery-heading">{collection ? 'Progress' : 'Delivery'}</h2>
          {shipments.map((s, i) => (
            <ShipmentView key={i} shipment={s} index={i} count={shipments.length} collection={collection} />
          ))}
        </section>
      )}

      <ReturnsView order={order} brand={brand} policy={policy} />
    </>
  );
}

function ItemImage({ name, url }: { name: string; url: string | null }) {
  const [failed, setFailed] = useState(false);
  const initial = name.trim().charAt(0).toUpperCase() || '?';
  if (!url || failed) {
    return (
      <div class="item-image placeholder" aria-hidden="true">
        {initial}
      </div>
    );
  }
  return <img class="item-image" src={url} alt="" loading="lazy" referrerpolicy="no-referrer" onError={() => setFailed(true)} />;
}

function ShipmentView({ shipment, index, count, collection }: { shipment: TrackedShipment; index: number; count: number; collection: boolean }) {
  const steps = collection ? COLLECTION_STEPS : DELIVERY_STEPS;
  const current = progressOf(steps, shipment);
  const title = count > 1 ? `Parcel ${index + 1} of ${count}` : 'Your parcel';
  const headingId = `parcel-${index}`;
  const events = [...shipment.events].sort((a, b) => b.occurredAt.localeCompare(a.occurredAt));
  const problem = shipment.status === 'EXCEPTION' ? events.find((e) => e.status === 'EXCEPTION') : undefined;
  const done = shipment.status === 'DELIVERED' || shipment.status === 'COLLECTED';

  return (
    <article class="shipment" aria-labelledby={headingId}>
      <h3 id={headingId}>{title}</h3>
      <p class="shipment-status">
        Status: <strong>{shipmentText(shipment.status)}</strong>
      </p>
      {shipment.status === 'CANCELLED' ? (
        <p>This parcel was cancelled.</p>
      ) : (
        current >= 0 && (
          <ol class="progress" aria-label={`${title}: progress`}>
            {steps.map((step, i) => {
              const state = i < current || (i === current && done) ? 'done' : i === current ? 'current' : 'todo';
              return (
                <li key={step.label} class={state} aria-current={i === current ? 'step' : undefined}>
                  <span class="dot" aria-hidden="true" />
                  <span class="step-label">
                    {step.label}
                    <span class="visually-hidden">
                      {state === 'done' ? ' (done)' : state === 'current' ? ' (current step)' : ' (to come)'}
                    </span>
                  </span>
                </li>
              );
            })}
          </ol>
        )
      )}
      {problem && (
        <div class="notice delay">
          <p>
            <strong>There is a problem with this delivery.</strong> {problem.description ?? ''}
          </p>
        </div>
      )}
      <dl class="facts">
        {shipment.estimatedDeliveryDate && !done && shipment.status !== 'READY_FOR_COLLECTION' && (
          <div>
            <dt>{collection ? 'Expected in store' : 'Estimated delivery'}</dt>
            <dd>
              {formatDay(shipment.estimatedDeliveryDate)}
              {shipment.isDelayed && <span class="delayed-tag"> (delayed)</span>}
            </dd>
          </div>
        )}
        {shipment.carrier && (
          <div>
            <dt>Carrier</dt>
            <dd>{shipment.carrier}</dd>
          </div>
        )}
        {shipment.trackingNumber && (
          <div>
            <dt>Tracking number</dt>
            <dd>
              {shipment.trackingUrl ? (
                <a href={shipment.trackingUrl} target="_blank" rel="noopener noreferrer">
                  {shipment.trackingNumber}
                  <span class="visually-hidden"> (track with {shipment.carrier ?? 'the carrier'}, opens in a new tab)</span>
                </a>
              ) : (
                shipment.trackingNumber
              )}
            </dd>
          </div>
        )}
      </dl>
      {shipment.trackingUrl && !shipment.trackingNumber && (
        <p>
          <a href={shipment.trackingUrl} target="_blank" rel="noopener noreferrer">
            Track with {shipment.carrier ?? 'the carrier'}
            <span class="visually-hidden"> (opens in a new tab)</span>
          </a>
        </p>
      )}
      {events.length > 0 && (
        <details class="events">
          <summary>Tracking history ({events.length})</summary>
          <ol>
            {events.map((e, i) => (
              <li key={i}>
                <time dateTime={e.occurredAt}>{formatMoment(e.occurredAt)}</time>
                <span>
                  {e.description ?? shipmentText(e.status)}
                  {e.location ? <span class="muted"> · {e.location}</span> : null}
                </span>
              </li>
            ))}
          </ol>
        </details>
      )}
    </article>
  );
}

function ReturnsView({ order, brand, policy }: { order: TrackedOrder; brand: Brand; policy: ReturnPolicy }) {
  const until = order.returnableUntil;
  const open = !!until && until >= todayIso();
  const site = brand.websiteUrl?.replace(/\/+$/, '');
  const days = (n: number) => (n === 0 ? 'the same day' : n === 1 ? 'within 1 day' : `within ${n} days`);
  const refunds = (
    <p class="small">
      Refunds: returned in store, {days(policy.inStoreRefundDays)}; by carrier, {days(policy.carrierRefundDays)}; at a drop-off point,{' '}
      {days(policy.dropOffRefundDays)}.
    </p>
  );
  return (
    <section class="card" aria-labelledby="returns-heading">
      <h2 id="returns-heading">Returns</h2>
      {open ? (
        <>
          <p>
            You can return items from this order until <strong>{formatDay(until)}</strong>.
          </p>
          {refunds}
          {site ? (
            <p>
              <a class="button-link" href={`${site}/returns?order=${encodeURIComponent(order.number)}`}>
                Start a return
              </a>
            </p>
          ) : (
            <p>
              To start a return, contact us at <a href={`mailto:${brand.supportEmail}`}>{brand.supportEmail}</a>.
            </p>
          )}
        </>
      ) : until ? (
        <p>The return window for this order closed on {formatDay(until)}.</p>
      ) : (
        <>
          <p>You can return items within {policy.windowDays} days of receiving them.</p>
          {refunds}
        </>
      )}
    </section>
  );
}

function SupportFooter({ brand }: { brand: Brand }) {
  return (
    <footer class="track-footer">
      <h2>Need help?</h2>
      <ul>
        <li>
          Email <a href={`mailto:${brand.supportEmail}`}>{brand.supportEmail}</a>
        </li>
        {brand.supportPhone && (
          <li>
            Call <a href={`tel:${brand.supportPhone.replace(/[^\d+]/g, '')}`}>{brand.supportPhone}</a>
          </li>
        )}
        {brand.websiteUrl && (
          <li>
            Visit <a href={brand.websiteUrl}>{brand.websiteUrl.replace(/^https?:\/\//, '').replace(/\/+$/, '')}</a>
          </li>
        )}
      </ul>
    </footer>
  );
}

render(<TrackingPage />, document.getElementById('app')!);
