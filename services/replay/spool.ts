// Commands read from WRITES wait here, on disk, until their turn: replay reads the stream once and
// quickly (so the history keeper, which trims the oldest applied history while replay runs, cannot
// take a message before it is read), then applies users before orders at Postgres's pace. A file
// of records [seq: float64][length: uint32][data], written and read sequentially.
import { type FileHandle, open } from "node:fs/promises";

export interface Spooled {
  seq: number;
  data: Uint8Array;
}

const header = 12;
const chunk = 1 << 20;

export class Spool {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  /** Records added. */
  count = 0;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  static async create(path: string): Promise<Spool> {
    return new Spool(path, await open(path, "w+", 0o600));
  }

  /** Adds a record; the data is copied, so the caller may reuse its buffer. */
  async add(seq: number, data: Uint8Array): Promise<void> {
    const rec = Buffer.allocUnsafe(header + data.length);
    rec.writeDoubleLE(seq, 0);
    rec.writeUInt32LE(data.length, 8);
    rec.set(data, header);
    this.pending.push(rec);
    this.pendingBytes += rec.length;
    this.count++;
    if (this.pendingBytes >= chunk) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.fh.write(buf, 0, buf.length, this.written);
    this.written += buf.length;
  }

  /** Every record in the order added, `size` at a time. */
  async *batches(size: number): AsyncGenerator<Spooled[]> {
    await this.flush();
    let buf = Buffer.alloc(chunk);
    let have = 0;
    let offset = 0;
    let batch: Spooled[] = [];
    while (offset < this.written || have > 0) {
      if (offset < this.written) {
        const { bytesRead } = await this.fh.read(buf, have, buf.length - have, offset);
        offset += bytesRead;
        have += bytesRead;
      }
      let at = 0;
      while (have - at >= header) {
        const len = buf.readUInt32LE(at + 8);
        if (have - at < header + len) break;
        // A copy: the buffer is reused for the next read.
        batch.push({
          seq: buf.readDoubleLE(at),
          data: new Uint8Array(buf.subarray(at + header, at + header + len)),
        });
        at += header + len;
        if (batch.length === size) {
          yield batch;
          batch = [];
        }
      }
      if (at === 0 && offset >= this.written && have > 0)
        throw new Error(`${this.path} ends inside a record`);
      buf.copy(buf, 0, at, have);
      have -= at;
      // A record bigger than the buffer (WRITES allows 256 KiB messages): grow it.
      if (have === buf.length) buf = Buffer.concat([buf, Buffer.alloc(buf.length)]);
    }
    if (batch.length > 0) yield batch;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
