import { useEffect, useRef, useState } from 'preact/hooks';
import { useAdmin } from './common.tsx';

const MIN_ZOOM = 0.1;
const MAX_ZOOM = 8;
const ZOOM_STEP = 1.5;

/**
 * Where the browser fetches a hosted photo: its path on this origin, so the session cookie
 * goes with it even when PUBLIC_URL names another host (a proxy, a tunnel).
 */
function hostedSrc(url: string): string | null {
  try {
    const u = new URL(url, location.origin);
    return /^\/v1\/photos\/[^/]+$/.test(u.pathname) ? u.pathname : null;
  } catch {
    return null;
  }
}

/** Only http(s) links are offered; a `javascript:` URL in approve_photo is shown as text. */
function safeLink(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : null;
  } catch {
    return null;
  }
}

/**
 * The payer's receipt photo: a thumbnail that opens a full-size viewer with zoom. Only a
 * photo this server stored for this invoice is shown inline; any other URL is named as
 * such and offered as a link, since the administrator must know whose evidence it is.
 */
export function ReceiptPhoto({ invoiceId, url, hosted }: { invoiceId: string; url: string | null; hosted: boolean }) {
  const { t } = useAdmin();
  const [open, setOpen] = useState(false);
  const [failed, setFailed] = useState(false);
  const opener = useRef<HTMLButtonElement>(null);
  useEffect(() => setFailed(false), [url]);

  if (!url) return <p data-testid="photo-none">{t.photoNone}</p>;
  const src = hosted ? hostedSrc(url) : null;
  if (!src) {
    const link = safeLink(url);
    return (
      <div class="adm-photo">
        <p class="adm-note adm-note-warn" data-testid="photo-not-ours">
          <strong aria-hidden="true">⚠ </strong>
          {t.photoNotOurs}
        </p>
        {link ? (
          <a href={link} target="_blank" rel="noopener noreferrer" data-testid="photo-external">
            {t.photoExternal}
          </a>
        ) : null}
        <p class="adm-mono adm-break">{url}</p>
      </div>
    );
  }
  return (
    <div class="adm-photo">
      <p class="adm-note adm-note-ok" data-testid="photo-ours">
        <strong aria-hidden="true">✓ </strong>
        {t.photoOurs}
      </p>
      {failed ? (
        <p class="adm-note adm-note-bad" role="alert">
          {t.photoFailed}
        </p>
      ) : (
        <button
          type="button"
          class="adm-thumb"
          ref={opener}
          onClick={() => setOpen(true)}
          aria-label={t.photoOpen}
          data-testid="photo-open"
        >
          <img src={src} alt={t.photoAlt(invoiceId)} data-testid="photo" onError={() => setFailed(true)} />
        </button>
      )}
      {open ? (
        <PhotoViewer
          src={src}
          alt={t.photoAlt(invoiceId)}
          onClose={() => {
            setOpen(false);
            opener.current?.focus();
          }}
        />
      ) : null}
    </div>
  );
}

/** A modal dialog: the browser traps focus in it and closes it on Escape. */
function PhotoViewer({ src, alt, onClose }: { src: string; alt: string; onClose: () => void }) {
  const { t } = useAdmin();
  const dialog = useRef<HTMLDialogElement>(null);
  const stage = useRef<HTMLElement>(null);
  const [natural, setNatural] = useState<{ w: number; h: number } | null>(null);
  // null until the photo is measured; then "fit" is the scale at which it fills the stage.
  const [zoom, setZoom] = useState<number | null>(null);

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    d.showModal();
    const closed = () => onClose();
    d.addEventListener('close', closed);
    return () => {
      d.removeEventListener('close', closed);
      if (d.open) d.close();
    };
  }, []);

  const fit = (): number => {
    const box = stage.current;
    if (!natural || !box) return 1;
    return Math.min(1, box.clientWidth / natural.w, box.clientHeight / natural.h);
  };
  const scale = zoom ?? fit();
  const by = (factor: number) => setZoom(Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, scale * factor)));
  const onKey = (e: KeyboardEvent) => {
    if (e.key === '+' || e.key === '=') by(ZOOM_STEP);
    else if (e.key === '-' || e.key === '_') by(1 / ZOOM_STEP);
    else if (e.key === '0') setZoom(null);
    else if (e.key === '1') setZoom(1);
    else return;
    e.preventDefault();
  };

  return (
    <dialog ref={dialog} class="adm-viewer" aria-label={t.photoViewer} onKeyDown={onKey} data-testid="photo-viewer">
      <div class="adm-viewer-bar">
        <button type="button" onClick={() => by(1 / ZOOM_STEP)} disabled={scale <= MIN_ZOOM} data-testid="zoom-out">
          <span aria-hidden="true">−</span>
          <span class="adm-viewer-word"> {t.zoomOut}</span>
        </button>
        <span class="adm-zoom" aria-live="polite" data-testid="zoom-level">
          {t.zoomLevel(Math.round(scale * 100))}
        </span>
        <button type="button" onClick={() => by(ZOOM_STEP)} disabled={scale >= MAX_ZOOM} data-testid="zoom-in">
          <span aria-hidden="true">+</span>
          <span class="adm-viewer-word"> {t.zoomIn}</span>
        </button>
        <button type="button" onClick={() => setZoom(null)} data-testid="zoom-fit">
          {t.zoomFit}
        </button>
        <button type="button" onClick={() => setZoom(1)} data-testid="zoom-reset">
          {t.zoomReset}
        </button>
        <button type="button" class="adm-viewer-close" onClick={() => dialog.current?.close()} data-testid="viewer-close">
          {t.close}
        </button>
      </div>
      <p class="adm-hint adm-viewer-keys">{t.zoomHint}</p>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: the zoomed photo scrolls; arrows must reach it */}
      <section class="adm-viewer-stage" tabIndex={0} aria-label={alt} ref={stage}>
        <img
          src={src}
          alt={alt}
          data-testid="photo-full"
          style={natural ? { width: `${Math.round(natural.w * scale)}px`, height: `${Math.round(natural.h * scale)}px` } : undefined}
          onLoad={(e) => {
            const img = e.currentTarget;
            setNatural({ w: img.naturalWidth, h: img.naturalHeight });
          }}
        />
      </section>
    </dialog>
  );
}
