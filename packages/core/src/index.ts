export * from './card.ts';
export * from './errors.ts';
export * from './events.ts';
export * from './money.ts';
export * from './statuses.ts';
export * from './text.ts';
export * from './transitions.ts';
export * from './views.ts';
