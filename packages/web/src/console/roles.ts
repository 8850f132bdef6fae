import type { ConsoleChange, SessionUser } from '@nltrade/core';
import type { ConsoleApi } from './api.ts';

export type ConsoleLang = 'uk' | 'en';

/** What the shell hands each role's screens (each role is its own lazily loaded chunk). */
export interface RoleProps {
  readonly api: ConsoleApi;
  readonly user: SessionUser;
  readonly lang: ConsoleLang;
  /**
   * Subscribes to "something you may see changed" hints from the realtime channel
   * (`console:changed`); returns the unsubscribe function. Screens refetch on a hint; null
   * means anything may have changed (the socket was down), so every screen refetches.
   */
  readonly onChange: (listener: (hint: ConsoleChange | null) => void) => () => void;
}

/** A role screen's strings in both languages; `pick` chooses the current one. */
export function pick<T>(lang: ConsoleLang, dict: { uk: T; en: T }): T {
  return dict[lang];
}
