import { AddressInfo, createServer, Server, Socket } from 'node:net';

export interface FakeRedisServerOptions {
  /**
   * The commands it answers; any other is read and never answered (a Redis that hangs on
   * scripts). Default: every command.
   */
  answers?: readonly string[];
}

/**
 * A TCP server that speaks just enough RESP for ioredis (INFO answers empty, PING answers PONG,
 * anything else OK), for timeout tests: it can leave some commands unanswered for ever, or fall
 * silent altogether like a frozen or partitioned Redis (`answering = false`: connections stay
 * open, bytes are read, nothing answers).
 */
export class FakeRedisServer {
  /** While false, nothing is answered. */
  answering = true;
  /** Command names received per connection, in order of connection. */
  readonly received: string[][] = [];
  private readonly answers?: ReadonlySet<string>;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) =>
    this.serve(socket),
  );

  constructor(options: FakeRedisServerOptions = {}) {
    this.answers = options.answers && new Set(options.answers);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) =>
      this.server.listen(0, '127.0.0.1', resolve),
    );
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    const received: string[] = [];
    this.received.push(received);
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let command: string[] | undefined;
      while ((command = readCommand())) {
        const name = (command[0] ?? '').toLowerCase();
        received.push(name);
        if (!this.answering || (this.answers && !this.answers.has(name)))
          continue;
        if (name === 'info') socket.write('$0\r\n\r\n');
        else if (name === 'ping') socket.write('+PONG\r\n');
        else socket.write('+OK\r\n');
      }
    });

    /** Takes one complete `*N\r\n$len\r\narg\r\n…` command off `pending`. */
    function readCommand(): string[] | undefined {
      let offset = 0;
      const line = (): string | undefined => {
        const end = pending.indexOf('\r\n', offset);
        if (end === -1) return undefined;
        const text = pending.slice(offset, end);
        offset = end + 2;
        return text;
      };
      const header = line();
      if (header === undefined || header[0] !== '*') return undefined;
      const args: string[] = [];
      for (let i = 0; i < Number(header.slice(1)); i++) {
        const lengthLine = line();
        if (lengthLine === undefined) return undefined;
        const length = Number(lengthLine.slice(1));
        if (pending.length < offset + length + 2) return undefined;
        args.push(pending.slice(offset, offset + length));
        offset += length + 2;
      }
      pending = pending.slice(offset);
      return args;
    }
  }
}
