import type { TraderCardView } from '@nltrade/core';
import type { ConsoleApi } from '../api.ts';

/*
 * A trader's receiving cards, saved on the server (encrypted there, so they follow the trader
 * to any device) and only ever listed masked; the whole number goes from the server straight
 * into the invoice it is given for.
 */

export type SavedCard = TraderCardView;

export async function savedCards(api: ConsoleApi): Promise<SavedCard[]> {
  return (await api.get<{ data: SavedCard[] }>('/v1/trader/cards')).data;
}

export function saveCard(api: ConsoleApi, digits: string): Promise<SavedCard> {
  return api.post<SavedCard>('/v1/trader/cards', { card: digits });
}

export async function forgetCard(api: ConsoleApi, id: string): Promise<void> {
  await api.del(`/v1/trader/cards/${encodeURIComponent(id)}`);
}

/** "4441 11•• •••• 4442" from the server's "4441-11**-****-4442" or from bare digits. */
export function maskedCard(card: string): string {
  const compact = card.replace(/-/g, '');
  const masked = /^\d+$/.test(compact)
    ? compact.slice(0, 6) + '•'.repeat(Math.max(0, compact.length - 10)) + compact.slice(-4)
    : compact.replace(/\*/g, '•');
  return masked.replace(/(.{4})(?=.)/g, '$1 ');
}
