import { createServer, connect, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on a free 127.0.0.1 port to `target`, that a test can cut and restore: `cut()`
 * stops listening (new connections are refused) and resets every open connection, the way a
 * database host that went away looks to its clients; `restore()` listens on the same port again.
 * Nothing is mocked: the bytes are the real server's.
 */
export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private server: Server;

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
    server: Server,
  ) {
    this.server = server;
  }

  static async start(target: {
    host: string;
    port: number;
  }): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    const proxy = new TcpProxy(
      target,
      (server.address() as AddressInfo).port,
      server,
    );
    proxy.serve(server);
    return proxy;
  }

  /** `url` with its host and port replaced by this proxy's. */
  rewrite(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) =>
      this.server.close(() => resolve()),
    );
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  async restore(): Promise<void> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
    this.serve(server);
  }

  close(): Promise<void> {
    return this.cut().catch(() => undefined);
  }

  private serve(server: Server): void {
    server.on('connection', (client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }
}
