import { AddressInfo, createServer, Server, Socket } from 'node:net';

/**
 * A TCP server that speaks just enough RESP for ioredis to connect (INFO, CLIENT, PING) and
 * then never answers a script: a Redis that hangs, for command-timeout tests.
 */
export class UnresponsiveRedis {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((socket) => {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let pending = '';
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let command: string[] | undefined;
      while ((command = readCommand())) {
        const name = command[0]?.toLowerCase();
        if (name === 'info') socket.write('$0\r\n\r\n');
        else if (name === 'ping') socket.write('+PONG\r\n');
        else if (name === 'client' || name === 'select' || name === 'auth') socket.write('+OK\r\n');
        // eval, evalsha and anything else: no answer, ever.
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
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `redis://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
