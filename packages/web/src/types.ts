import type { CheckoutView, Locale, Status } from '@nltrade/core';

export type { CheckoutView, Locale, Status };

export interface ApiErrorBody {
  code: string;
  message: string;
}
