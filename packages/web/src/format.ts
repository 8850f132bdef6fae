import type { Locale } from './types.ts';

const TAGS: Record<Locale, string> = { uk: 'uk-UA', en: 'en-GB' };

/** "1500.50" → "1 500,50 грн" / "UAH 1,500.50"; whole amounts without the ",00". */
export function formatMoney(amount: string, currency: string, locale: Locale): string {
  const n = Number(amount);
  if (!Number.isFinite(n)) return `${amount} ${currency}`;
  const whole = Number.isInteger(n);
  try {
    return new Intl.NumberFormat(TAGS[locale], {
      style: 'currency',
      currency,
      currencyDisplay: locale === 'uk' ? 'symbol' : 'code',
      minimumFractionDigits: whole ? 0 : 2,
      maximumFractionDigits: 2,
    }).format(n);
  } catch {
    return `${amount} ${currency}`;
  }
}

/** The card to pay to, as only the bound payer gets it; anyone else gets "4441-11**-****-4442". */
export function isFullCard(card: string | null | undefined): card is string {
  return typeof card === 'string' && /^\d{12,19}$/.test(card);
}

/** "4441114441114444" → ["4441","1144","4111","4444"]; a 19-digit card ends with a group of 3. */
export function cardGroups(digits: string): string[] {
  return digits.match(/\d{1,4}/g) ?? [];
}

export function lastFour(digits: string): string {
  return `•••• ${digits.slice(-4)}`;
}

/** 754_000 ms → "12:34"; over an hour "1:02:34". */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Spoken form for screen readers, which read "12:34" as a time of day. */
export function spokenDuration(ms: number, minutes: string, seconds: string): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return m > 0 ? `${m} ${minutes} ${s} ${seconds}` : `${s} ${seconds}`;
}

export function sameIp(a: string, b: string): boolean {
  const norm = (ip: string) => {
    const t = ip.trim().toLowerCase();
    return t.startsWith('::ffff:') && t.includes('.') ? t.slice(7) : t;
  };
  return norm(a) === norm(b);
}

/** Only http(s) return links are followed; anything else (javascript:, data:) is dropped. */
export function safeUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : null;
  } catch {
    return null;
  }
}
