import { useEffect, useRef, useState } from 'preact/hooks';
import { copyText } from '../clipboard.ts';
import { Icon } from './Icon.tsx';

interface Props {
  text: string;
  label: string;
  /** Accessible name, which says what is copied ("Copy the card number"). */
  ariaLabel: string;
  doneLabel: string;
  failedLabel: string;
  announce(message: string): void;
  announceDone: string;
  testId: string;
}

export function CopyButton(props: Props) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);

  const onClick = async () => {
    const ok = await copyText(props.text);
    setState(ok ? 'done' : 'failed');
    props.announce(ok ? props.announceDone : props.failedLabel);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => setState('idle'), 2500);
  };

  return (
    <button
      type="button"
      class={`btn btn-copy${state === 'done' ? ' is-done' : ''}`}
      aria-label={props.ariaLabel}
      data-testid={props.testId}
      onClick={onClick}
    >
      <Icon name={state === 'done' ? 'check' : 'copy'} />
      <span class="btn-copy-text">{state === 'done' ? props.doneLabel : props.label}</span>
    </button>
  );
}
