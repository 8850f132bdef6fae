import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';

export interface BackupOptions {
  /** The configured database URL: a PostgreSQL database is backed up with `pg_dump`, not here. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** The file to write; it must not exist yet. */
  out: string;
}

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
}

/** The embedded database's file in a data directory (as `openStorage` names it). */
export function sqliteFile(dataDir: string): string {
  return path.join(dataDir, 'nltrade.sqlite');
}

export class BackupError extends Error {
  override name = 'BackupError';
}

/**
 * A consistent copy of the embedded database through SQLite's online backup API, safe while
 * a server writes to it (WAL: the copy is one read transaction, writers carry on). The copy
 * is made in a private temporary file beside the target and linked into place only when
 * whole, so a failed or interrupted backup never leaves a file that looks like one, and an
 * existing file is never overwritten. The master key is not in it: keep that apart.
 */
export async function backupDatabase(options: BackupOptions): Promise<BackupResult> {
  if (options.databaseUrl) {
    throw new BackupError(
      'This server uses PostgreSQL: back it up with pg_dump (see README.md, "Backups"); `nltrade admin backup` copies the embedded database.',
    );
  }
  const source = sqliteFile(options.dataDir);
  if (!fs.existsSync(source)) throw new BackupError(`No embedded database at ${source} (check --data / DATA_DIR)`);
  const out = path.resolve(options.out);
  if (fs.existsSync(out)) throw new BackupError(`${out} already exists; give a new file name`);
  const dir = path.dirname(out);
  if (!fs.existsSync(dir)) throw new BackupError(`The directory ${dir} does not exist`);

  const tmp = path.join(dir, `.${path.basename(out)}.${randomBytes(6).toString('hex')}.tmp`);
  // Created here, owner-only, before SQLite writes into it: the copy holds every merchant's
  // (encrypted) keys and every invoice.
  fs.closeSync(fs.openSync(tmp, 'wx', 0o600));
  const db = new SQLite(source, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    // All pages in one step: one read transaction, so writes meanwhile cannot restart the copy.
    const { totalPages } = await db.backup(tmp, { progress: () => 0x7fffffff });
    const copy = new SQLite(tmp, { fileMustExist: true });
    try {
      // One self-contained file (no -wal beside it); a server opening it switches back to WAL.
      copy.pragma('journal_mode = DELETE');
      const result = copy.pragma('quick_check', { simple: true });
      if (result !== 'ok') throw new BackupError(`The copy failed its integrity check: ${String(result)}`);
    } finally {
      copy.close();
    }
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // link() fails if the target appeared meanwhile, where rename() would replace it.
    try {
      fs.linkSync(tmp, out);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw err;
      // A filesystem without hard links: an exclusive copy keeps the no-overwrite promise.
      fs.copyFileSync(tmp, out, fs.constants.COPYFILE_EXCL);
      fs.chmodSync(out, 0o600);
    }
    return { file: out, bytes: fs.statSync(out).size, pages: totalPages };
  } finally {
    db.close();
    for (const file of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) fs.rmSync(file, { force: true });
  }
}
