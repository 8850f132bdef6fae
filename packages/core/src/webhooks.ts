import type { Status } from './statuses.ts';
import type { Action, ActorType } from './transitions.ts';
import type { MerchantInvoice } from './views.ts';

/**
 * Webhook contracts shared by the server that sends events, the SDK that verifies them and
 * the CLI that forwards them. No crypto here: core also runs in browsers.
 */

export const WEBHOOK_EVENT_TYPES = ['invoice.created', 'invoice.status_changed', 'invoice.amount_changed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export function isWebhookEventType(value: unknown): value is WebhookEventType {
  return typeof value === 'string' && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * The one event type of a change. A history row is one event, so a change has exactly one
 * type: the trader's amount change (which keeps the status `pay`) is `invoice.amount_changed`
 * only; every other change moves the status.
 */
export function webhookEventTypeOf(action: Action | 'create' | string): WebhookEventType {
  if (action === 'create') return 'invoice.created';
  if (action === 'changeAmount') return 'invoice.amount_changed';
  return 'invoice.status_changed';
}

/** The header every delivery is signed in (HTTP header names are case-insensitive). */
export const WEBHOOK_SIGNATURE_HEADER = 'NLTrade-Signature';
/** The event's id again, for receivers that deduplicate before parsing the body. */
export const WEBHOOK_EVENT_ID_HEADER = 'NLTrade-Event-Id';
/** How far a signature's timestamp may be from the receiver's clock, by default. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;
/** Endpoint secrets look like this; the CLI's `webhooks listen` secret too. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Ids of events sent to webhooks are `evt_<number>`. */
export const WEBHOOK_EVENT_ID_RE = /^(?:evt_)?([1-9][0-9]{0,15})$/;

export interface WebhookEventData {
  /** The merchant's view of the invoice right after this change (metadata included). */
  invoice: MerchantInvoice;
  /** The status before the change; null for `invoice.created`. */
  from: Status | null;
  to: Status;
  /** What happened: `create`, `accept`, `setCard`, `paid`, `changeAmount`, `expire`, … */
  action: string;
  /** Who did it: `merchant`, `trader`, `payer`, `admin` or `system` (a timer). */
  actor_type: ActorType;
  /** `invoice.amount_changed` only: the amount before this change. */
  previous_amount?: string;
}

/**
 * One webhook event: the body of a delivery, signed as it is sent.
 *
 * `sequence` is the invoice's version after the change: it grows by one with every change
 * of that invoice, so a receiver can drop a repeated or stale delivery by comparing it.
 */
export interface WebhookEvent {
  /** `evt_<number>`; the same event keeps its id across retries and redeliveries. */
  id: string;
  object: 'event';
  type: WebhookEventType;
  /** Unix seconds of the change. */
  created: number;
  sequence: number;
  data: WebhookEventData;
}

export function webhookEventId(historyId: number | string): string {
  return `evt_${historyId}`;
}

/** The history id an event id (`evt_12` or `12`) names, or null. */
export function parseWebhookEventId(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const m = WEBHOOK_EVENT_ID_RE.exec(value);
  return m?.[1] ? Number(m[1]) : null;
}

/** `t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one `v1` per secret in use (two during a rotation). */
export function formatWebhookSignature(timestamp: number, signatures: readonly string[]): string {
  return [`t=${timestamp}`, ...signatures.map((s) => `v1=${s}`)].join(',');
}

export interface ParsedWebhookSignature {
  timestamp: number;
  /** Lower-case hex digests; unknown schemes are ignored, as Stripe's verifiers do. */
  v1: string[];
}

/** The parts of a signature header, or null when it has no timestamp or no `v1`. */
export function parseWebhookSignature(header: string): ParsedWebhookSignature | null {
  if (header.length > 4096) return null;
  let timestamp: number | null = null;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^[0-9]{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) v1.push(value.toLowerCase());
  }
  return timestamp === null || v1.length === 0 ? null : { timestamp, v1 };
}

/** What is signed: the timestamp, a dot, and the raw body exactly as sent. */
export function webhookSignedContent(timestamp: number, rawBody: string): string {
  return `${timestamp}.${rawBody}`;
}

/** A webhook endpoint as the v1 API shows it (the secret only when it is made or rotated). */
export interface WebhookEndpointView {
  object: 'webhook_endpoint';
  /** `we_…` */
  id: string;
  url: string;
  /** The event types sent there; null = every type. */
  events: WebhookEventType[] | null;
  /** `disabled` after failing for WEBHOOK_RETRY_FOR (3 days). */
  status: 'enabled' | 'disabled';
  created_at: string;
  /** Since when deliveries there have been failing without a success; null when healthy. */
  failing_since: string | null;
  /** When the previous secret stops signing (after a rotation), or null. */
  previous_secret_expires_at: string | null;
  /** `whsec_…`: only in the answer that created or rotated it. */
  secret?: string;
}

/** One line of an endpoint's delivery log. */
export interface WebhookDeliveryView {
  object: 'webhook_delivery';
  id: string;
  event_id: string;
  event_type: WebhookEventType;
  /** The invoice's number and its sequence at this event. */
  invoice_id: string;
  sequence: number;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** When the next attempt is due (pending only). */
  next_attempt_at: string | null;
  last_status_code: number | null;
  /** A short reason for the last failure (connection refused, timeout, `HTTP 500: …`). */
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

/** What `webhooks:listen` accepts: the event types to receive (all when left out). */
export interface WebhookListenOptions {
  events?: WebhookEventType[];
}
