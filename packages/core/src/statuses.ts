/**
 * The nine status strings of the NL-Trade Remote Invoice API. They are wire values:
 * spelling (spaces, camelCase mix) must never change.
 */
export const STATUSES = [
  'not approve exchange',
  'wait card',
  'send card',
  'pay',
  'waitPhoto',
  'notApprove',
  'success',
  'canceled',
  'rejected',
] as const;

export type Status = (typeof STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<Status> = new Set<Status>(['success', 'canceled', 'rejected']);

export function isStatus(value: unknown): value is Status {
  return typeof value === 'string' && (STATUSES as readonly string[]).includes(value);
}

export type Locale = 'uk' | 'en';

/** Labels as shown to payers: the original service's texts, with its spelling mistakes fixed. */
export const STATUS_LABELS: Readonly<Record<Status, Readonly<Record<Locale, string>>>> = {
  'not approve exchange': { uk: 'Заявка ще не прийнята трейдером', en: 'Not yet taken by a trader' },
  'wait card': { uk: 'Очікування картки від трейдера', en: "Waiting for the trader's card" },
  'send card': { uk: 'Очікується оплата клієнтом', en: 'Waiting for the payer to pay' },
  pay: { uk: 'Перевірка оплати трейдером', en: 'The trader is checking the payment' },
  waitPhoto: { uk: 'Очікування фото підтвердження від клієнта', en: "Waiting for the payer's proof photo" },
  notApprove: { uk: 'Адміністратор розглядає заявку', en: 'An administrator is reviewing' },
  success: { uk: 'Виконано успішно', en: 'Completed' },
  canceled: { uk: 'Скасовано', en: 'Canceled' },
  rejected: { uk: 'Скасовано через закінчення часу', en: 'Canceled: time ran out' },
};
