// serve_timeouts.mjs - checks `kaiwu serve --timeout S` with raw sockets: an idle connection, an
// idle keep-alive connection after a response, a request whose headers trickle in one byte at a
// time and one whose body does are all closed by the server within about S seconds (a trickle
// keeps the connection active, so only a deadline from the request's start closes it), and a
// request sent in time is answered. Started by tests/e2e/serve_timeouts.sh with the server's
// host, port and S. Prints "FAIL ..." per failed check and ends with "N passed, N failed".
import net from 'node:net';

const [host, portStr, secStr] = process.argv.slice(2);
const port = Number(portStr), S = Number(secStr);
let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else { failed++; console.log('FAIL serve_timeouts: ' + what); }
};

// opens a connection, calls feed(sock) once connected; resolves with the seconds until the server
// closed it (or limit when it did not) and what it sent
function closedAfter(feed, limit) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = '', done = false, timer = null;
    const sock = net.connect(port, host);
    const end = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(sock.trickle);
      sock.destroy();
      resolve({ secs: v, got });
    };
    sock.on('connect', () => feed(sock));
    sock.on('data', (d) => { got += d.toString(); });
    sock.on('close', () => end((Date.now() - t0) / 1000));
    sock.on('error', () => end((Date.now() - t0) / 1000));
    timer = setTimeout(() => end(limit), limit * 1000);
  });
}
const trickle = (sock, text, everyMs) => {
  let i = 0;
  sock.trickle = setInterval(() => {
    if (i < text.length && !sock.destroyed) sock.write(text[i++]);
  }, everyMs);
};
const limit = S * 4 + 3;

const idle = await closedAfter(() => {}, limit);
check(idle.secs >= S * 0.8 && idle.secs < S * 2 + 1.5, `an idle connection is closed after about ${S} s (${idle.secs} s)`);

const ka = await closedAfter((s) => s.write(`GET /health HTTP/1.1\r\nHost: x\r\n\r\n`), limit);
check(/^HTTP\/1\.1 200/.test(ka.got), `a request sent in time is answered (${JSON.stringify(ka.got.slice(0, 20))})`);
check(ka.secs >= S * 0.8 && ka.secs < S * 2 + 1.5, `an idle keep-alive connection is closed after about ${S} s (${ka.secs} s)`);

const hdr = 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Padding: ' + 'a'.repeat(400) + '\r\n\r\n';
const slowHead = await closedAfter((s) => trickle(s, hdr, 100), limit);
check(slowHead.secs < S * 2 + 1.5, `headers trickled one byte per 100 ms are cut off after about ${S} s (${slowHead.secs} s)`);

const body = JSON.stringify({ prompt: 'a', max_tokens: 1, pad: 'b'.repeat(400) });
const slowBody = await closedAfter((s) => {
  s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
  trickle(s, body, 100);
}, limit);
check(slowBody.secs < S * 2 + 1.5 && !/^HTTP\/1\.1 200/.test(slowBody.got), `a body trickled one byte per 100 ms is cut off after about ${S} s (${slowBody.secs} s)`);

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
