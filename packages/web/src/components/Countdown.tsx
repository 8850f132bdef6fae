import { useEffect, useRef, useState } from 'preact/hooks';
import { formatClock, spokenDuration } from '../format.ts';
import type { Messages } from '../i18n.ts';

interface Props {
  /** Deadline on the server's clock, epoch ms. */
  deadline: number;
  /** serverTime − Date.now(), measured when the view arrived: the phone's clock may be wrong. */
  offset: number;
  /** Length of the whole payment window, for the bar and the last-quarter warning. */
  windowMs: number;
  t: Messages;
  announce(message: string): void;
}

export function Countdown({ deadline, offset, windowMs, t, announce }: Props) {
  const remainingNow = () => deadline - (Date.now() + offset);
  const [remaining, setRemaining] = useState(remainingNow);
  const warned = useRef(false);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      const r = remainingNow();
      setRemaining(r);
      // Wake on the next whole second so the digits change evenly.
      if (r > 0) timer = setTimeout(tick, (r % 1000) + 20);
    };
    tick();
    return () => clearTimeout(timer);
  }, [deadline, offset]);

  const warning = remaining <= windowMs / 4;
  const over = remaining <= 0;
  useEffect(() => {
    if (warning && !over && !warned.current) {
      warned.current = true;
      announce(t.timeWarning);
    }
  }, [warning, over]);

  const fraction = windowMs > 0 ? Math.min(1, Math.max(0, remaining / windowMs)) : 0;
  return (
    <div class={`countdown${warning ? ' is-warning' : ''}${over ? ' is-over' : ''}`} data-testid="countdown">
      <div class="countdown-row">
        <span class="countdown-label" id="countdown-label">
          {t.timeLeft}
        </span>
        <span class="countdown-clock" role="timer" aria-labelledby="countdown-label">
          <span aria-hidden="true">{formatClock(remaining)}</span>
          <span class="visually-hidden">{spokenDuration(remaining, t.minutes, t.seconds)}</span>
        </span>
      </div>
      <div class="bar" aria-hidden="true">
        <div class="bar-fill" style={{ width: `${(fraction * 100).toFixed(2)}%` }} />
      </div>
      {warning && (
        <p class="countdown-note" data-testid="countdown-warning">
          {over ? t.timeUp : t.timeWarning}
        </p>
      )}
    </div>
  );
}
