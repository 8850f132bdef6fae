/**
 * `nltrade invoice …`: a merchant's invoices through the v1 API (the SDK's MerchantClient)
 * and the non-binding realtime watch, for trying the API from a terminal and for scripts.
 */
import { FINAL_STATUSES, isStatus, type MerchantInvoice, type WatchView } from '@nltrade/core';

export interface InvoiceCommandOptions {
  /** The server's base URL (`--url` or NLTRADE_URL). */
  url: string | undefined;
  /** The merchant's access token (`--token` or NLTRADE_TOKEN). */
  token: string | undefined;
  json: boolean;
  title?: string | undefined;
  amount?: string | undefined;
  returnUrl?: string | undefined;
  status?: string | undefined;
  limit?: string | undefined;
  out?: (line: string) => void;
}

/** A mistake in the command line itself: main.ts prints the usage with it (exit 2). */
export class InvoiceUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function need(value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new InvoiceUsageError(`${what} is required`);
  return value;
}

/** The checkout link as a payer would open it: the server's own base in front of a bare path. */
function checkoutLink(base: string, invoice: MerchantInvoice): string {
  return /^https?:\/\//.test(invoice.checkout_url) ? invoice.checkout_url : base.replace(/\/+$/, '') + invoice.checkout_url;
}

function amountText(i: { amount: string; previous_amount: string | null; currency: string }): string {
  return i.previous_amount ? `${i.amount} ${i.currency} (was ${i.previous_amount})` : `${i.amount} ${i.currency}`;
}

function describe(base: string, i: MerchantInvoice): string {
  const lines = [
    `Invoice ${i.uid} (no. ${i.id})${i.sandbox ? ' [sandbox]' : ''}`,
    `  title:     ${i.title}`,
    `  status:    ${i.status}`,
    `  amount:    ${amountText(i)}; you receive ${i.receive_amount} at ${i.rate}`,
    `  checkout:  ${checkoutLink(base, i)}`,
    `  created:   ${i.created_at}${i.deadline_at ? `   deadline: ${i.deadline_at}` : ''}`,
  ];
  if (i.resolution) lines.push(`  reason:    ${i.resolution}`);
  if (i.return_url) lines.push(`  return to: ${i.return_url}`);
  for (const [k, v] of Object.entries(i.metadata ?? {})) lines.push(`  metadata:  ${k}=${v}`);
  if (i.history && i.history.length > 0) {
    lines.push('  history:');
    for (const h of i.history) lines.push(`    ${h.at}  ${h.status.padEnd(20)}  ${h.action} by ${h.actor_type}`);
  }
  return lines.join('\n');
}

function limitOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvoiceUsageError(`--limit must be a whole number from 1 to 100 (got "${text}")`);
  return n;
}

/** One line per change of a watched invoice. */
function watchLine(v: WatchView): string {
  const amount = v.previousAmount ? `${v.amount} UAH (was ${v.previousAmount})` : `${v.amount} UAH`;
  return `${v.updatedAt}  ${v.status.padEnd(20)}  ${amount}${v.payerBound ? '  payer joined' : ''}${v.sandbox ? '  [sandbox]' : ''}`;
}

/** Runs `nltrade invoice SUB …`; resolves with the exit code. */
export async function invoiceCommand(sub: string | undefined, args: string[], o: InvoiceCommandOptions): Promise<number> {
  const out = o.out ?? ((line: string) => console.log(line));
  const print = (json: unknown, text: string) => out(o.json ? JSON.stringify(json) : text);
  const known = ['create', 'get', 'list', 'cancel', 'watch'];
  if (!sub || !known.includes(sub)) throw new InvoiceUsageError(`unknown invoice command "${sub ?? ''}" (${known.join(', ')})`);
  const url = need(o.url, '--url (or NLTRADE_URL)');
  const token = need(o.token, '--token (or NLTRADE_TOKEN)');
  const { MerchantClient, watchInvoice } = await import('@nltrade/sdk');
  const api = new MerchantClient({ baseUrl: url, token });
  const uidArg = () => need(args[0], 'the invoice UID');

  switch (sub) {
    case 'create': {
      const invoice = await api.createInvoice({
        title: need(o.title, '--title'),
        amount: need(o.amount, '--amount'),
        ...(o.returnUrl !== undefined && { returnUrl: o.returnUrl }),
      });
      print(invoice, `Invoice ${invoice.uid} created: ${invoice.status}, ${amountText(invoice)}\ncheckout: ${checkoutLink(url, invoice)}`);
      return 0;
    }
    case 'get': {
      const invoice = await api.getInvoice(uidArg());
      print(invoice, describe(url, invoice));
      return 0;
    }
    case 'list': {
      if (o.status !== undefined && !isStatus(o.status)) throw new InvoiceUsageError(`--status "${o.status}" is not an invoice status`);
      const limit = limitOf(o.limit);
      const page = await api.listInvoices({ ...(o.status !== undefined && { status: o.status }), ...(limit !== undefined && { limit }) });
      const lines = page.data.map(
        (i) =>
          `${i.uid}  ${i.status.padEnd(20)}  ${i.amount.padStart(12)} ${i.currency}  ${i.created_at}  ${i.title}${i.sandbox ? '  [sandbox]' : ''}`,
      );
      if (page.has_more) lines.push(`… more: the next page starts after ${page.next_cursor}`);
      print(page, page.data.length > 0 ? lines.join('\n') : 'No invoices.');
      return 0;
    }
    case 'cancel': {
      const invoice = await api.cancelInvoice(uidArg());
      print(invoice, `Invoice ${invoice.uid}: ${invoice.status}`);
      return 0;
    }
    default: {
      // watch: the non-binding `invoice:watch`, never `invoice:join` (which would make this machine the payer).
      const uid = uidArg();
      return await new Promise<number>((resolve) => {
        const watch = watchInvoice(
          url,
          uid,
          { token },
          {
            onUpdate: (view) => {
              print(view, watchLine(view));
              if (FINAL_STATUSES.has(view.status)) {
                watch.close();
                resolve(0);
              }
            },
            onError: (error) => {
              watch.close();
              console.error(`nltrade: ${error.message} (${error.code})`);
              resolve(1);
            },
          },
        );
        let connected = false;
        watch.socket.on('connect', () => {
          connected = true;
        });
        watch.socket.on('connect_error', (err) => {
          // After a first connection socket.io rides out a server restart; before it, a wrong
          // URL must fail rather than hang.
          if (connected) return;
          watch.close();
          console.error(`nltrade: cannot connect to ${url}: ${err.message}`);
          resolve(1);
        });
      });
    }
  }
}
