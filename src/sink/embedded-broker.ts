/**
 * An in-process MQTT broker (aedes) for when mqtt.url is not configured: the demo and a single
 * edge box work with no broker installed. Loopback by default. If the configured port is taken (another
 * broker, a second inspectd) it tries the next ones, port+1 … port+PORT_TRIES-1, and warns with the port it
 * got, so subscribers find it at a predictable place; when all are taken the start fails, naming the range.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import { ErrorCodes, InspectdError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';

/** Ports tried from the configured one upwards. */
export const PORT_TRIES = 10;

export class EmbeddedBroker {
  private readonly host: string;
  private readonly wantedPort: number;
  private readonly logger: Logger;
  private broker: Aedes | null = null;
  private server: net.Server | null = null;
  private boundPort = 0;
  private stopped = false;
  private readonly sockets = new Set<net.Socket>();

  constructor(opts: { host: string; port: number; logger: Logger }) {
    this.host = opts.host;
    this.wantedPort = opts.port;
    this.logger = opts.logger.child({ component: 'embedded-broker' });
  }

  get port(): number {
    return this.boundPort;
  }

  /** mqtt://host:port, valid after start(). */
  get url(): string {
    if (!this.server) throw new InspectdError(ErrorCodes.LIFECYCLE, 'embedded broker url read before start()');
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `mqtt://${host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new InspectdError(ErrorCodes.LIFECYCLE, 'embedded broker was stopped and cannot be reopened');
    if (this.server) return;
    const broker = await Aedes.createBroker();
    this.broker = broker;
    broker.on('clientError', (client, err) => this.logger.debug({ client: client?.id, err: err.message }, 'embedded broker client error'));
    const server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    const last = this.wantedPort === 0 ? 0 : Math.min(65535, this.wantedPort + PORT_TRIES - 1);
    for (let port = this.wantedPort; ; port++) {
      try {
        this.boundPort = await listen(server, this.host, port);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && port < last) continue;
        broker.close();
        const range = port === this.wantedPort ? `${this.wantedPort}` : `${this.wantedPort}-${last} (all in use)`;
        throw new InspectdError(ErrorCodes.MQTT, `embedded MQTT broker cannot listen on ${this.host}:${range}: ${errorMessage(err)}; set mqtt.embedded.host/port or mqtt.url`, {
          cause: err,
        });
      }
    }
    if (this.boundPort !== this.wantedPort && this.wantedPort !== 0) {
      this.logger.warn(
        { host: this.host, wanted: this.wantedPort, port: this.boundPort },
        'embedded MQTT broker port in use (another broker running?); using the next free one — point subscribers at it or set mqtt.url',
      );
    }
    this.server = server;
    this.logger.info({ url: this.url }, 'embedded MQTT broker listening');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const server = this.server;
    const broker = this.broker;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    if (broker) await new Promise<void>((r) => broker.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.server = null;
    this.broker = null;
  }
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
