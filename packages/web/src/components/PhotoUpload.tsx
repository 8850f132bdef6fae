import { LIMITS } from '@nltrade/core';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Upload, uploadPhoto } from '../api.ts';
import type { Messages } from '../i18n.ts';
import type { CheckoutView } from '../types.ts';
import { Icon } from './Icon.tsx';

const MAX_BYTES = LIMITS.photoBytes;
// Phones label camera shots inconsistently; an empty type is left for the server to judge by content.
const TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', '']);

interface Props {
  uid: string;
  t: Messages;
  onView(view: CheckoutView): void;
  onError(err: ApiError): void;
  announce(message: string): void;
}

type Phase = { kind: 'empty' } | { kind: 'ready' } | { kind: 'uploading'; pct: number } | { kind: 'failed'; message: string };

export function PhotoUpload({ uid, t, onView, onError, announce }: Props) {
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'empty' });
  const [invalid, setInvalid] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const upload = useRef<Upload | null>(null);

  useEffect(
    () => () => {
      upload.current?.abort();
    },
    [],
  );
  useEffect(() => {
    if (!preview) return;
    return () => URL.revokeObjectURL(preview);
  }, [preview]);

  const choose = (f: File | undefined) => {
    if (!f) return;
    if (!TYPES.has(f.type)) {
      setInvalid(t.photoBadType);
      announce(t.photoBadType);
      return;
    }
    if (f.size > MAX_BYTES) {
      setInvalid(t.photoTooBig);
      announce(t.photoTooBig);
      return;
    }
    setInvalid(null);
    setFile(f);
    setPreview(URL.createObjectURL(f));
    setPhase({ kind: 'ready' });
  };

  const send = async () => {
    if (!file) return;
    setPhase({ kind: 'uploading', pct: 0 });
    const u = uploadPhoto(uid, file, (fraction) => setPhase({ kind: 'uploading', pct: Math.min(99, Math.round(fraction * 100)) }));
    upload.current = u;
    try {
      const view = await u.promise;
      setPhase({ kind: 'uploading', pct: 100 });
      onView(view);
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError('NETWORK', String(err), 0);
      if (e.code === 'ABORTED') return;
      const message =
        e.code === 'PAYLOAD_TOO_LARGE'
          ? t.photoTooBig
          : e.code === 'UNSUPPORTED_MEDIA_TYPE'
            ? t.photoBadType
            : `${t.photoFailed} ${t.errors[e.code] ?? t.errorGeneric}`;
      setPhase({ kind: 'failed', message });
      announce(message);
      onError(e);
    } finally {
      upload.current = null;
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (phase.kind !== 'uploading') choose(e.dataTransfer?.files[0]);
  };

  const uploading = phase.kind === 'uploading';
  return (
    <div class="upload">
      {preview && <img class="preview" src={preview} alt={t.photoPreview} data-testid="photo-preview" />}
      {/* The whole drop area is the file input's label: a tap anywhere opens the picker. */}
      <label
        class={`dropzone${dragging ? ' is-dragging' : ''}${preview ? ' has-preview' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        {!preview && (
          <span class="dropzone-icon">
            <Icon name="upload" size={32} />
          </span>
        )}
        <span class="btn btn-secondary">{preview ? t.photoChange : t.photoChoose}</span>
        <input
          ref={input}
          class="file-input"
          type="file"
          accept="image/*"
          aria-describedby="photo-hint"
          disabled={uploading}
          data-testid="photo-input"
          onChange={(e) => {
            choose((e.currentTarget as HTMLInputElement).files?.[0]);
            (e.currentTarget as HTMLInputElement).value = '';
          }}
        />
        <span id="photo-hint" class="hint">
          {t.photoHint}
        </span>
      </label>

      {invalid && (
        <p class="alert alert-error" role="alert">
          {invalid}
        </p>
      )}

      {phase.kind === 'uploading' && (
        <div class="progress">
          <label for="photo-progress">{t.photoUploading(phase.pct)}</label>
          <progress id="photo-progress" max={100} value={phase.pct} aria-label={t.photoProgress} />
        </div>
      )}

      {phase.kind === 'failed' && (
        <p class="alert alert-error" role="alert" data-testid="upload-error">
          {phase.message}
        </p>
      )}

      {file && phase.kind !== 'uploading' && (
        <div class="actions">
          <button type="button" class="btn btn-primary btn-wide" onClick={send} data-testid="photo-send">
            {phase.kind === 'failed' ? t.photoRetry : t.photoSend}
          </button>
        </div>
      )}
    </div>
  );
}
