// Helpers the e2e suites share: a free loopback port, and waiting for a server's readiness.
import net from 'node:net';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Polls ROOT/health/ready until it answers 200; throws with logs() after `ms`.
export async function waitReady(root, ms, logs = () => '') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(root + '/health/ready')).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${root} did not become ready; log:\n${logs()}`);
}
