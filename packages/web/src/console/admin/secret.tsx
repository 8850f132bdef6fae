import { useState } from 'preact/hooks';
import { copyText } from '../../clipboard.ts';
import { useAdmin } from './common.tsx';

/**
 * A secret the server hands out once (an API or access token): shown until the
 * administrator says it is kept, never stored by the page.
 */
export function OneTimeSecret({
  label,
  value,
  onDismiss,
  testId,
}: {
  label: string;
  value: string;
  onDismiss: () => void;
  testId?: string;
}) {
  const { t } = useAdmin();
  const [copied, setCopied] = useState<boolean | null>(null);
  return (
    <div class="adm-note adm-note-warn adm-secret" role="status" data-testid={testId}>
      <p>
        <strong>{label}</strong>
      </p>
      <p>{t.secretOnce}</p>
      <code class="adm-mono adm-break adm-secret-value" data-testid={testId ? `${testId}-value` : undefined}>
        {value}
      </code>
      <div class="adm-row">
        <button type="button" onClick={async () => setCopied(await copyText(value))}>
          {t.copy}
        </button>
        <button type="button" onClick={onDismiss}>
          {t.dismiss}
        </button>
        <span aria-live="polite">{copied === null ? '' : copied ? t.copied : t.copyFailed}</span>
      </div>
    </div>
  );
}
