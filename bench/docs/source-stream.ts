import { Readable } from 'node:stream';

/** `total` bytes of `chunk` repeated, as a stream that respects back-pressure. */
export function sourceStream(chunk: Buffer, total: number): Readable {
  let remaining = total;
  return new Readable({
    highWaterMark: chunk.length,
    read() {
      if (remaining <= 0) return void this.push(null);
      const size = Math.min(remaining, chunk.length);
      remaining -= size;
      // A copy per chunk, as a renderer produces fresh buffers (and the pipeline may keep them).
      this.push(Buffer.from(chunk.subarray(0, size)));
    },
  });
}
