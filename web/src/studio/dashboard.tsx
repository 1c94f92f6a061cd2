// The experience dashboard: how the orders placed in a date range fared (experienceMetrics), with
// headline tiles, charts over time (Chart.js, each with an accessible name and a "Show data" table)
// and small tables. For agents, marketing and admins.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js';
import type { StudioApi } from './api';
import './dashboard.css';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

export const CHANNELS = ['APP', 'MARKETPLACE', 'PHONE', 'STORE', 'WEB'] as const;
const INTERVALS = [
  { id: 'WEEK', label: 'Week' },
  { id: 'MONTH', label: 'Month' },
  { id: 'DAY', label: 'Day' },
] as const;

// Colours with at least 4.5:1 contrast on white (so legend swatches and lines are visible too).
const COLOURS: Record<string, string> = {
  APP: '#1d4ed8',
  MARKETPLACE: '#9a3412',
  PHONE: '#6b21a8',
  STORE: '#166534',
  WEB: '#0f766e',
};
const SERIES_COLOURS = ['#1d4ed8', '#b91c1c', '#166534', '#6b21a8'];

interface Segment {
  customers: number;
  rate30Days: number | null;
  rate60Days: number | null;
  rate90Days: number | null;
}

interface Figures {
  ordersPlaced: number;
  delivery: { ordersJudged: number; onTime: number; delayed: number; toldProactively: number; onTimeRate: number | null; delayedRate: number | null; proactiveRate: number | null };
  cancellations: { cancellations: number; ordersCancelled: number; byActor: { actor: string; count: number }[]; byReason: { reasonCode: string; count: number }[] };
  returns: {
    returns: number;
    returnRate: number | null;
    refunds: RefundTimes;
    byMethod: RefundTimes[];
  };
  emails: { sent: number; failed: number; opened: number; openRate: number | null; byKind: { kind: string; sent: number; failed: number; opened: number; openRate: number | null }[] };
  repeatPurchase: Record<SegmentKey, Segment>;
}

interface RefundTimes {
  method: string | null;
  refunds: number;
  fromRequestP50Seconds: number | null;
  fromRequestP90Seconds: number | null;
  fromReceiptP50Seconds: number | null;
  fromReceiptP90Seconds: number | null;
}

interface PeriodFigures {
  ordersPlaced: number;
  delivery: { ordersJudged: number; onTimeRate: number | null; delayedRate: number | null; proactiveRate: number | null };
  returns: { returnRate: number | null };
}

interface Period {
  from: string;
  to: string;
  overall: PeriodFigures;
  byChannel: { channel: string; figures: { ordersPlaced: number } }[];
}

interface Metrics {
  from: string;
  to: string;
  ordersPending: number;
  overall: Figures;
  series: Period[];
}

type SegmentKey =
  | 'all'
  | 'firstOrderOnTime'
  | 'firstOrderDelayed'
  | 'firstOrderDelayedToldProactively'
  | 'firstOrderDelayedNotTold'
  | 'firstOrderReturned'
  | 'firstOrderNotReturned';

const SEGMENTS: { key: SegmentKey; label: string }[] = [
  { key: 'all', label: 'All customers' },
  { key: 'firstOrderOnTime', label: 'First order on time' },
  { key: 'firstOrderDelayed', label: 'First order delayed' },
  { key: 'firstOrderDelayedToldProactively', label: 'Delayed, told proactively' },
  { key: 'firstOrderDelayedNotTold', label: 'Delayed, not told' },
  { key: 'firstOrderReturned', label: 'First order returned' },
  { key: 'firstOrderNotReturned', label: 'First order not returned' },
];

const SEGMENT_FIELDS = 'customers rate30Days rate60Days rate90Days';
const REFUND_FIELDS = 'method refunds fromRequestP50Seconds fromRequestP90Seconds fromReceiptP50Seconds fromReceiptP90Seconds';

const QUERY = `query StudioDashboard($from: Date!, $to: Date!, $channel: Channel, $interval: MetricsInterval!) {
  experienceMetrics(from: $from, to: $to, channel: $channel) {
    from to ordersPending
    overall {
      ordersPlaced
      delivery { ordersJudged onTime delayed toldProactively onTimeRate delayedRate proactiveRate }
      cancellations { cancellations ordersCancelled byActor { actor count } byReason { reasonCode count } }
      returns { returns returnRate refunds { ${REFUND_FIELDS} } byMethod { ${REFUND_FIELDS} } }
      emails { sent failed opened openRate byKind { kind sent failed opened openRate } }
      repeatPurchase { ${SEGMENTS.map((s) => `${s.key} { ${SEGMENT_FIELDS} }`).join(' ')} }
    }
    series(interval: $interval) {
      from to
      overall { ordersPlaced delivery { ordersJudged onTimeRate delayedRate proactiveRate } returns { returnRate } }
      byChannel { channel figures { ordersPlaced } }
    }
  }
}`;

/** YYYY-MM-DD of today (UTC) plus `days`. */
function utcDay(days: number): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export function percent(rate: number | null | undefined): string {
  return rate == null ? '—' : `${(rate * 100).toFixed(1)}%`;
}

/** Seconds as hours below two days, else days. */
export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return '—';
  const hours = seconds / 3600;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} days`;
}

function words(code: string | null | undefined): string {
  if (!code) return 'All methods';
  const w = code.toLowerCase().split('_').join(' ');
  return w.charAt(0).toUpperCase() + w.slice(1);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "31 Aug" from "2026-08-31". */
function shortDay(date: string): string {
  const [, m, d] = date.split('-');
  return `${Number(d)} ${MONTHS[Number(m) - 1] ?? m}`;
}

function periodLabel(p: { from: string; to: string }): string {
  return p.from === p.to ? p.from : `${p.from} – ${p.to}`;
}

interface Props {
  api: StudioApi;
  onAuthFailure: (err: unknown) => boolean;
}

export function DashboardView({ api, onAuthFailure }: Props) {
  const [from, setFrom] = useState(() => utcDay(-89));
  const [to, setTo] = useState(() => utcDay(0));
  const [channel, setChannel] = useState('');
  const [interval, setPeriodInterval] = useState('WEEK');
  const [metrics, setMetrics] = useState<Metrics | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const rangeProblem =
    !from || !to ? 'Choose both dates.' : from > to ? '"From" must not be after "To".' : null;

  useEffect(() => {
    if (rangeProblem) {
      setLoading(false);
      return;
    }
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    api
      .experienceMetrics<{ experienceMetrics: Metrics }>(
        QUERY,
        { from, to, channel: channel || null, interval },
        controller.signal,
      )
      .then((data) => {
        setMetrics(data.experienceMetrics);
        setLoading(false);
      })
      .catch((err) => {
        if (controller.signal.aborted) return;
        setLoading(false);
        if (!onAuthFailure(err)) setError(`The figures could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
      });
    return () => controller.abort();
  }, [api, onAuthFailure, from, to, channel, interval, rangeProblem]);

  const channelName = channel ? words(channel) : 'all channels';

  return (
    <div class="dashboard">
      <h1>Experience dashboard</h1>
      <p class="muted">How the orders placed in the range fared: delivery, returns, emails and whether customers came back.</p>
      <form class="dashboard-filters" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="dash-from">From</label>
          <input id="dash-from" type="date" value={from} max={to || undefined} onChange={(e) => setFrom((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="dash-to">To</label>
          <input id="dash-to" type="date" value={to} min={from || undefined} onChange={(e) => setTo((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="dash-channel">Channel</label>
          <select id="dash-channel" value={channel} onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}>
            <option value="">All channels</option>
            {CHANNELS.map((c) => (
              <option key={c} value={c}>
                {words(c)}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="dash-interval">Interval</label>
          <select id="dash-interval" value={interval} onChange={(e) => setPeriodInterval((e.target as HTMLSelectElement).value)}>
            {INTERVALS.map((i) => (
              <option key={i.id} value={i.id}>
                {i.label}
              </option>
            ))}
          </select>
        </div>
      </form>
      {rangeProblem && (
        <p role="alert" class="error-box">
          {rangeProblem}
        </p>
      )}
      {error && (
        <p role="alert" class="error-box">
          {error}
        </p>
      )}
      <p role="status" class="status-text dashboard-status">
        {loading ? 'Loading the figures…' : ''}
      </p>
      {metrics && !rangeProblem && !error && (
        <div class={loading ? 'dashboard-body stale' : 'dashboard-body'} aria-busy={loading ? 'true' : 'false'}>
          {metrics.ordersPending > 0 && (
            <p class="dashboard-pending" data-testid="dashboard-pending">
              {metrics.ordersPending.toLocaleString('en')} orders are still being added to these figures. Reload in a
              minute for the complete picture.
            </p>
          )}
          {metrics.overall.ordersPlaced === 0 ? (
            <p class="empty-state" data-testid="dashboard-empty">
              No orders were placed in {channelName} from {metrics.from} to {metrics.to}, so there is nothing to show yet.
              Choose a wider date range or another channel.
            </p>
          ) : (
            <DashboardFigures metrics={metrics} channelName={channelName} />
          )}
        </div>
      )}
    </div>
  );
}

function DashboardFigures({ metrics, channelName }: { metrics: Metrics; channelName: string }) {
  const o = metrics.overall;
  const tiles: { id: string; label: string; value: string; note: string }[] = [
    { id: 'ordersPlaced', label: 'Orders placed', value: String(o.ordersPlaced), note: channelName },
    { id: 'onTimeRate', label: 'On-time rate', value: percent(o.delivery.onTimeRate), note: `${o.delivery.onTime} of ${o.delivery.ordersJudged} judged` },
    { id: 'proactiveRate', label: 'Proactive rate', value: percent(o.delivery.proactiveRate), note: `${o.delivery.toldProactively} of ${o.delivery.delayed} delayed told first` },
    { id: 'returnRate', label: 'Return rate', value: percent(o.returns.returnRate), note: `${o.returns.returns} returns` },
    { id: 'openRate', label: 'Email open rate', value: percent(o.emails.openRate), note: `${o.emails.opened} of ${o.emails.sent} sent` },
    { id: 'repeat90', label: 'Repeat within 90 days', value: percent(o.repeatPurchase.all.rate90Days), note: `${o.repeatPurchase.all.customers} customers` },
  ];
  const series = metrics.series;
  // Charts name a period by its first day (short); the tables give both ends.
  const labels = series.map((p) => shortDay(p.from));
  const channels = CHANNELS.filter((c) => series.some((p) => p.byChannel.some((b) => b.channel === c && b.figures.ordersPlaced > 0)));
  const channelCount = (p: Period, c: string) => p.byChannel.find((b) => b.channel === c)?.figures.ordersPlaced ?? 0;
  const pct = (r: number | null) => (r == null ? null : Math.round(r * 1000) / 10);

  return (
    <>
      <section aria-labelledby="dash-headline">
        <h2 id="dash-headline">Headline figures</h2>
        <dl class="tiles">
          {tiles.map((t) => (
            <div class="tile" key={t.id}>
              <dt>{t.label}</dt>
              <dd class="tile-value" data-testid={`tile-${t.id}`}>
                {t.value}
              </dd>
              <dd class="tile-note">{t.note}</dd>
            </div>
          ))}
        </dl>
      </section>

      <section aria-labelledby="dash-repeat" class="insight">
        <h2 id="dash-repeat">The cost of a broken experience</h2>
        <p class="muted">
          Share of customers who ordered again within 30, 60 and 90 days of their first order in the range, by how that
          first order went.
        </p>
        <ChartFigure
          name="Repeat purchase by first-order experience"
          type="bar"
          labels={SEGMENTS.map((s) => s.label)}
          yPercent
          datasets={[
            { label: 'Within 30 days', data: SEGMENTS.map((s) => pct(o.repeatPurchase[s.key].rate30Days)), colour: SERIES_COLOURS[0] },
            { label: 'Within 60 days', data: SEGMENTS.map((s) => pct(o.repeatPurchase[s.key].rate60Days)), colour: SERIES_COLOURS[2] },
            { label: 'Within 90 days', data: SEGMENTS.map((s) => pct(o.repeatPurchase[s.key].rate90Days)), colour: SERIES_COLOURS[3] },
          ]}
          table={{
            head: ['Segment', 'Customers', '30 days', '60 days', '90 days'],
            rows: SEGMENTS.map((s) => {
              const g = o.repeatPurchase[s.key];
              return [s.label, String(g.customers), percent(g.rate30Days), percent(g.rate60Days), percent(g.rate90Days)];
            }),
          }}
        />
      </section>

      <section aria-labelledby="dash-time">
        <h2 id="dash-time">Over time</h2>
        <div class="chart-grid">
          <ChartFigure
            name="Orders placed per period by channel"
            type="bar"
            stacked
            labels={labels}
            datasets={channels.map((c) => ({ label: words(c), data: series.map((p) => channelCount(p, c)), colour: COLOURS[c] }))}
            table={{
              head: ['Period', ...channels.map(words), 'Total'],
              rows: series.map((p) => [periodLabel(p), ...channels.map((c) => String(channelCount(p, c))), String(p.overall.ordersPlaced)]),
            }}
          />
          <ChartFigure
            name="On-time and delayed rates per period"
            type="line"
            yPercent
            labels={labels}
            datasets={[
              { label: 'On time', data: series.map((p) => pct(p.overall.delivery.onTimeRate)), colour: SERIES_COLOURS[2] },
              { label: 'Delayed', data: series.map((p) => pct(p.overall.delivery.delayedRate)), colour: SERIES_COLOURS[1], dashed: true },
            ]}
            table={{
              head: ['Period', 'Orders judged', 'On time', 'Delayed'],
              rows: series.map((p) => [periodLabel(p), String(p.overall.delivery.ordersJudged), percent(p.overall.delivery.onTimeRate), percent(p.overall.delivery.delayedRate)]),
            }}
          />
          <ChartFigure
            name="Proactive rate per period"
            type="line"
            yPercent
            labels={labels}
            datasets={[{ label: 'Delayed orders told proactively', data: series.map((p) => pct(p.overall.delivery.proactiveRate)), colour: SERIES_COLOURS[3] }]}
            table={{
              head: ['Period', 'Proactive rate'],
              rows: series.map((p) => [periodLabel(p), percent(p.overall.delivery.proactiveRate)]),
            }}
          />
          <ChartFigure
            name="Return rate per period"
            type="line"
            yPercent
            labels={labels}
            datasets={[{ label: 'Orders returned', data: series.map((p) => pct(p.overall.returns.returnRate)), colour: SERIES_COLOURS[0] }]}
            table={{
              head: ['Period', 'Return rate'],
              rows: series.map((p) => [periodLabel(p), percent(p.overall.returns.returnRate)]),
            }}
          />
        </div>
      </section>

      <section aria-labelledby="dash-details">
        <h2 id="dash-details">Details</h2>
        <div class="table-grid">
          <SmallTable
            caption="Cancellations by actor"
            head={['Actor', 'Cancellations']}
            rows={o.cancellations.byActor.map((a) => [words(a.actor), String(a.count)])}
            empty="No cancellations."
          />
          <SmallTable
            caption="Cancellations by reason"
            head={['Reason', 'Cancellations']}
            rows={o.cancellations.byReason.map((r) => [words(r.reasonCode), String(r.count)])}
            empty="No cancellations."
          />
          <SmallTable
            caption="Refund times by return method"
            head={['Method', 'Refunds', 'From request, median', 'From request, 90th percentile']}
            rows={[...o.returns.byMethod, ...(o.returns.refunds.refunds ? [o.returns.refunds] : [])].map((m) => [
              words(m.method),
              String(m.refunds),
              duration(m.fromRequestP50Seconds),
              duration(m.fromRequestP90Seconds),
            ])}
            empty="No refunds."
          />
          <SmallTable
            caption="Emails by kind"
            head={['Kind', 'Sent', 'Failed', 'Opened', 'Open rate']}
            rows={o.emails.byKind.map((k) => [words(k.kind), String(k.sent), String(k.failed), String(k.opened), percent(k.openRate)])}
            empty="No emails."
          />
        </div>
      </section>
    </>
  );
}

interface DatasetSpec {
  label: string;
  data: (number | null)[];
  colour: string;
  dashed?: boolean;
}

interface ChartProps {
  name: string;
  type: 'bar' | 'line';
  labels: string[];
  datasets: DatasetSpec[];
  stacked?: boolean;
  yPercent?: boolean;
  table: { head: string[]; rows: string[][] };
}

/** A chart (canvas, role="img", named) in a figure with a caption and its data as a table. */
function ChartFigure({ name, type, labels, datasets, stacked, yPercent, table }: ChartProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const summary = `${name}: ${datasets.map((d) => d.label).join(', ')}; ${labels.length} ${labels.length === 1 ? 'entry' : 'entries'}. The numbers are in "Show data" below.`;

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const config: ChartConfiguration<'bar' | 'line', (number | null)[], string> = {
      type,
      data: {
        labels,
        datasets: datasets.map((d) => ({
          label: d.label,
          data: d.data,
          backgroundColor: d.colour,
          borderColor: d.colour,
          borderWidth: type === 'line' ? 2 : 0,
          borderDash: d.dashed ? [6, 4] : undefined,
          pointStyle: d.dashed ? 'rectRot' : 'circle',
          pointRadius: 3,
          spanGaps: true,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: {
          legend: { position: 'bottom', labels: { color: '#1f2933', usePointStyle: type === 'line' } },
          tooltip: { enabled: true },
        },
        scales: {
          x: { stacked: !!stacked, ticks: { color: '#1f2933', maxRotation: 45 } },
          y: {
            stacked: !!stacked,
            beginAtZero: true,
            ...(yPercent ? { max: 100 } : {}),
            ticks: {
              color: '#1f2933',
              precision: 0,
              callback: yPercent ? (v: string | number) => `${v}%` : undefined,
            },
          },
        },
      },
    };
    const chart = new Chart(canvas, config as ChartConfiguration);
    return () => chart.destroy();
  }, [name, type, JSON.stringify(labels), JSON.stringify(datasets), stacked, yPercent]);

  return (
    <figure class="chart">
      <figcaption>{name}</figcaption>
      <div class="chart-box">
        <canvas ref={canvasRef} role="img" aria-label={summary} />
      </div>
      <details>
        <summary>Show data</summary>
        <table>
          <caption class="visually-hidden">{name}</caption>
          <TableBody head={table.head} rows={table.rows} />
        </table>
      </details>
    </figure>
  );
}

function SmallTable({ caption, head, rows, empty }: { caption: string; head: string[]; rows: string[][]; empty: string }) {
  return (
    <table class="small-table">
      <caption>{caption}</caption>
      <TableBody head={head} rows={rows} empty={empty} />
    </table>
  );
}

/** A table's head and rows; each row's first cell heads the row. */
function TableBody({ head, rows, empty }: { head: string[]; rows: string[][]; empty?: string }) {
  return (
    <>
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col" key={h}>
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 && empty !== undefined ? (
          <tr>
            <td colSpan={head.length}>{empty}</td>
          </tr>
        ) : (
          rows.map((r, i) => (
            <tr key={i}>
              {r.map((cell, j) =>
                j === 0 ? (
                  <th scope="row" key={j}>
                    {cell}
                  </th>
                ) : (
                  <td key={j}>{cell}</td>
                ),
              )}
            </tr>
          ))
        )}
      </tbody>
    </>
  );
}
