import { openBufferFile, type BufferFile, type OpenBufferFile } from '../../local/raw-buffer.ts';

/** An errno-style error, as node:fs raises them. */
export function errno(code: string, syscall: string, message = 'injected'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, ${syscall}`), { code, syscall });
}

/**
 * A file system with a budget of free blocks shared by the buffer files it
 * opens, over real files, allocating as real ones do: a write that does not
 * fit writes what fits (a short write) and the next one fails with ENOSPC;
 * truncating frees the blocks past the new end, and a file's last block keeps
 * its unused bytes. Setting `freeBlocks` gives space back.
 */
export class SmallDisk {
  /** Writes that wrote less than asked. */
  shortWrites = 0;
  /** Writes refused with ENOSPC. */
  refusals = 0;

  constructor(
    public freeBlocks: number,
    readonly blockSize = 4096,
  ) {}

  readonly open: OpenBufferFile = async (path) => {
    const real = await openBufferFile(path);
    const bs = this.blockSize;
    let size = 0;
    let blocks = 0;
    const file: BufferFile = {
      write: async (data, offset, length) => {
        const room = blocks * bs - size + this.freeBlocks * bs;
        if (room <= 0) {
          this.refusals += 1;
          throw errno('ENOSPC', 'write', 'no space left on device');
        }
        const fits = Math.min(length, room);
        if (fits < length) this.shortWrites += 1;
        const { bytesWritten } = await real.write(data, offset, fits);
        size += bytesWritten;
        const needed = Math.ceil(size / bs);
        this.freeBlocks -= Math.max(0, needed - blocks);
        blocks = Math.max(blocks, needed);
        return { bytesWritten };
      },
      datasync: () => real.datasync(),
      truncate: async (length) => {
        await real.truncate(length);
        size = length;
        const kept = Math.ceil(length / bs);
        this.freeBlocks += Math.max(0, blocks - kept);
        blocks = Math.min(blocks, kept);
      },
      close: () => real.close(),
    };
    return file;
  };
}
