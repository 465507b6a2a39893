// A listener that will never accept: prints {"blackhole_port": N}; the test then SIGSTOPs this process and fills its
// accept queue, after which the kernel drops further SYNs on the port and a connect to it hangs (loopback only).
import { createServer } from 'node:net';

const server = createServer(() => {});
server.listen({ port: 0, host: '127.0.0.1' }, () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ blackhole_port: port })}\n`);
});
