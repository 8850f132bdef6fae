import { FAILED_FINAL_STATUSES, payerStep, SUCCESS_STATUS } from '@nltrade/core';
import type { Messages } from '../i18n.ts';
import type { Status } from '../types.ts';

export function Steps({ status, t }: { status: Status; t: Messages }) {
  const current = payerStep(status);
  const failed = FAILED_FINAL_STATUSES.has(status);
  // Each label names a stage, never an outcome the status has not reached.
  const labels = [t.stepTake, t.stepPay, t.stepCheck, failed ? t.stepDoneFailed : status === SUCCESS_STATUS ? t.stepDone : t.stepResult];
  return (
    <nav aria-label={t.steps}>
      <ol class={`steps${failed ? ' is-failed' : ''}`}>
        {labels.map((label, i) => {
          // How far a canceled invoice got is not known here: no step is ticked rather than a wrong one.
          const state = status === SUCCESS_STATUS || (!failed && i < current) ? 'done' : i === current ? 'current' : 'todo';
          return (
            <li key={i} class={`step is-${state}`} aria-current={i === current ? 'step' : undefined}>
              <span class="step-dot" aria-hidden="true">
                {state === 'done' ? '✓' : failed && i === 3 ? '✕' : i + 1}
              </span>
              <span class="step-label">{label}</span>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
