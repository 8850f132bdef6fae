import type { CheckoutView, ErrorCode, Locale, Status } from '@nltrade/core';

export type { CheckoutView, ErrorCode, Locale, Status };
