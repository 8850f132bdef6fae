import fs from 'node:fs';
import fastifyMultipart from '@fastify/multipart';
import { type Actor, AppError } from '@nltrade/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HEAD_BYTES, MAX_PHOTO_BYTES } from '../../services/photos.ts';
import { checkoutView } from '../../views.ts';
import { requirePrincipal } from '../auth.ts';
import { limitRequests } from '../rate-limit.ts';
import { EMPTY_BODY, PHOTO_PARAMS, type RouteOptions, typed, UID_PARAMS } from '../schemas.ts';

export type { RouteOptions };

/** Multipart framing around the file is small; anything much larger than the file limit is refused unread. */
const MULTIPART_OVERHEAD = 64 * 1024;

const payerOf = (request: FastifyRequest): Actor => ({ type: 'payer', id: request.clientIp });

const tooLarge = () => new AppError('PAYLOAD_TOO_LARGE', `The photo must be at most ${MAX_PHOTO_BYTES / 1024 / 1024} MB`);

/**
 * The whole file, or PAYLOAD_TOO_LARGE as soon as it is over `max` bytes. `checkHead` sees
 * the first HEAD_BYTES (or the whole of a smaller file) and may refuse the file. On either
 * refusal `abandon` lets the rest of the body pass unparsed and unkept: the client still
 * reads an answer (not a reset connection), and the server spends nothing on bytes it has
 * already refused beyond taking them off the socket.
 */
async function readLimited(
  stream: NodeJS.ReadableStream & { truncated?: boolean },
  max: number,
  checkHead: (head: Buffer) => void,
  abandon: () => void,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  let headChecked = false;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > max) {
      abandon();
      throw tooLarge();
    }
    chunks.push(buf);
    if (!headChecked && total >= HEAD_BYTES) {
      headChecked = true;
      try {
        checkHead(Buffer.concat(chunks, total));
      } catch (err) {
        abandon();
        throw err;
      }
    }
  }
  if (stream.truncated) throw tooLarge();
  const data = Buffer.concat(chunks, total);
  if (!headChecked) checkHead(data);
  return data;
}

/** The file in the multipart field "photo", read with the size limit enforced as it arrives. */
async function photoOf(request: FastifyRequest, checkHead: (head: Buffer) => void): Promise<Buffer> {
  if (!request.isMultipart()) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the photo as multipart/form-data in the field "photo"');
  // One byte over the limit is let through by the parser, so the count below sees it: the
  // parser's own truncation flag is set on a later tick than the last chunk arrives.
  const part = await request.file({ limits: { fileSize: MAX_PHOTO_BYTES + 1, files: 1, fields: 4, parts: 5 }, throwFileSizeLimit: false });
  if (part?.fieldname !== 'photo') throw new AppError('VALIDATION_FAILED', 'The multipart body needs a file in the field "photo"');
  // Unhooked from the multipart parser, the rest of the body is read and dropped by Node
  // itself, at a fraction of the cost of parsing it.
  const abandon = () => {
    request.raw.unpipe();
    request.raw.resume();
  };
  return readLimited(part.file, MAX_PHOTO_BYTES, checkHead, abandon);
}

/**
 * The payer's side without the legacy envelope, for the hosted checkout page. A payer has no
 * account: the invoice is bound to the IP that first joined its room, and core's guards
 * refuse every action from another IP (IP_MISMATCH) or before any join (IP_NOT_BOUND).
 */
export async function checkoutRoutes(instance: FastifyInstance, { system }: RouteOptions): Promise<void> {
  const app = typed(instance);
  // Registered here, not globally, so multipart parsing exists only on the upload route's scope.
  await app.register(fastifyMultipart, { throwFileSizeLimit: true });
  // Anonymous routes: a budget per IP keeps one address from flooding reads or uploads.
  app.addHook('onRequest', limitRequests(system.config.checkoutRequestsPerMinute, system.clock));

  app.get('/v1/checkout/:uid', { schema: { params: UID_PARAMS } }, async (request) => {
    const invoice = await system.invoices.get(request.params.uid);
    return checkoutView(invoice, system.clock.now(), request.clientIp);
  });

  app.post('/v1/checkout/:uid/paid', { schema: { params: UID_PARAMS, body: EMPTY_BODY } }, async (request) => {
    const invoice = await system.invoices.act(request.params.uid, 'paid', payerOf(request));
    return checkoutView(invoice, system.clock.now(), request.clientIp);
  });

  app.post('/v1/checkout/:uid/photo', { schema: { params: UID_PARAMS } }, async (request, reply) => {
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > MAX_PHOTO_BYTES + MULTIPART_OVERHEAD) throw tooLarge();
    // A client that hangs up while its photo waits for a decoder gives its place in the
    // queue to the next one (one that hangs up mid-body already fails the read).
    const gone = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableFinished) gone.abort();
    };
    reply.raw.once('close', onClose);
    try {
      const invoice = await system.photos.upload(request.params.uid, payerOf(request), (checkHead) => photoOf(request, checkHead), {
        signal: gone.signal,
      });
      return checkoutView(invoice, system.clock.now(), request.clientIp);
    } finally {
      reply.raw.off('close', onClose);
    }
  });

  app.get('/v1/photos/:id', { schema: { params: PHOTO_PARAMS } }, async (request, reply) => {
    const photo = await system.photos.openFor(await requirePrincipal(system, request), request.params.id);
    return reply
      .type(photo.mime)
      .header('content-length', photo.bytes)
      .header('cache-control', 'private, no-store')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'")
      .send(fs.createReadStream(photo.file));
  });
}
