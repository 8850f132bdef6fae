import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { claimedSize, HEAD_BYTES, refuseOversizedHead } from '../src/services/photos.ts';

const image = (width: number, height: number, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: { r: 200, g: 10, b: 10, alpha: 0.5 } } });

test('the size a file’s first bytes claim is what the decoder reads, for every accepted format', async () => {
  const cases: [string, Buffer][] = [
    ['PNG', await image(321, 123).png().toBuffer()],
    ['WebP lossy (VP8)', await image(321, 123).webp().toBuffer()],
    ['WebP lossless (VP8L)', await image(321, 123).webp({ lossless: true }).toBuffer()],
    ['WebP with alpha (VP8X)', await image(321, 123, 4).webp().toBuffer()],
    ['JPEG', await image(321, 123).jpeg().toBuffer()],
    ['progressive JPEG', await image(321, 123).jpeg({ progressive: true }).toBuffer()],
    // The SOF comes after an EXIF block: the walk skips segments by their length.
    ['JPEG with EXIF', await image(321, 123).jpeg().withMetadata({ orientation: 6 }).toBuffer()],
  ];
  for (const [name, data] of cases) {
    const meta = await sharp(data).metadata();
    assert.deepEqual(claimedSize(data.subarray(0, HEAD_BYTES)), { width: meta.width, height: meta.height }, name);
  }
});

test('a head that does not say is left to the full check, never guessed', async () => {
  const jpeg = await image(50, 40).jpeg().toBuffer();
  assert.equal(claimedSize(jpeg.subarray(0, 20)), null, 'SOF not reached yet');
  assert.equal(claimedSize(Buffer.from('RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0')), null, 'no VP8 start code');
  assert.equal(claimedSize(Buffer.from('GIF89a')), null);
  assert.doesNotThrow(() => refuseOversizedHead(jpeg.subarray(0, 20), 1));
});

test('a head claiming more than the cap is refused with its size in the message', async () => {
  const png = await image(2000, 1001).png().toBuffer();
  assert.throws(() => refuseOversizedHead(png, 2_000_000), { code: 'VALIDATION_FAILED', message: /2000×1001 pixels \(2 megapixels\)/ });
  assert.doesNotThrow(() => refuseOversizedHead(png, 2_002_000));
});
