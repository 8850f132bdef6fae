import type { Locale, Status } from '@nltrade/core';

export type { Locale, Status };

/** The public view the server sends from GET /v1/checkout/:uid and in `invoice:update`. */
export interface CheckoutView {
  uid: string;
  title: string;
  amount: string;
  currency: string;
  status: Status;
  statusLabel: Record<Locale, string>;
  card: string | null;
  deadlineAt: string | null;
  serverTime: string;
  version: number;
  previousAmount: string | null;
  photoUploaded: boolean;
  returnUrl: string | null;
  resolution: string | null;
  viewerIp?: string;
  ip: string | null;
  /** Length of the payment window; optional so an older server still works. */
  paymentTimeoutSeconds?: number;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}
