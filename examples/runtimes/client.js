// What Node.js says in each situation of the book's chapter "Your runtime's words".
//
// Usage: node client.js net|http PLAN HOST:PORT. PLAN is the steps to take, as every client of
// examples/runtimes/ reads it: `write:5 sleep:100 read` for a socket, `get sleep:200 get` or
// `post:20000` for HTTP (an http.Agent with keepAlive, as a pool keeps the connection). One
// line per step: `write 5: ok`, `read: ok(30)`, `read: EOF ('end' event)`, `get: 200
// "hello\n"`, or the step and `ERROR` with String(err); a socket's 'error' event, which Node
// emits whatever step is under way, is a line of its own. `rstlab runtimes` runs it against
// the peer; it checks nothing itself.
'use strict';
const net = require('net');
const http = require('http');

const [api, plan, addr] = process.argv.slice(2);
const steps = plan.split(/\s+/).map((s) => {
  const [op, n] = s.split(':');
  return { op, n: Number(n || 0) };
});
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function netClient() {
  const socket = net.connect({ host, port, noDelay: true });
  const chunks = [];
  let ended = false;
  let failed = null;
  socket.on('data', (d) => chunks.push(d));
  socket.on('end', () => { ended = true; });
  socket.on('error', (e) => { failed = e; console.log(`socket 'error' event: ERROR ${String(e)}`); });
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const { op, n } of steps) {
    if (op === 'write') {
      const err = await new Promise((resolve) => {
        try {
          socket.write(Buffer.alloc(n, 'x'), (e) => resolve(e));
        } catch (e) {
          resolve(e);
        }
      });
      console.log(err ? `write ${n}: ERROR ${String(err)}` : `write ${n}: ok`);
    } else if (op === 'read') {
      for (let i = 0; i < 20 && !chunks.length && !ended && !failed; i++) await sleep(100);
      if (chunks.length) console.log(`read: ok(${chunks.splice(0).reduce((a, c) => a + c.length, 0)})`);
      else if (failed) console.log(`read: ERROR ${String(failed)}`);
      else if (ended) console.log("read: EOF ('end' event)");
      else console.log('read: nothing within 2 s');
    } else if (op === 'sleep') {
      await sleep(n);
    }
  }
  socket.destroy();
}

async function httpClient() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (const { op, n } of steps) {
    if (op === 'sleep') {
      await sleep(n);
      continue;
    }
    const line = await new Promise((resolve) => {
      const body = op === 'post' ? Buffer.alloc(n, 'x') : null;
      const req = http.request({ host, port, path: '/', method: op === 'post' ? 'POST' : 'GET', agent, timeout: 3000 }, (res) => {
        const parts = [];
        res.on('data', (d) => parts.push(d));
        res.on('end', () => resolve(`${op}: ${res.statusCode} ${JSON.stringify(Buffer.concat(parts).toString())}`));
        res.on('error', (e) => resolve(`${op}: ERROR ${String(e)}`));
        res.on('aborted', () => resolve(`${op}: ERROR response 'aborted' event`));
      });
      req.on('error', (e) => resolve(`${op}: ERROR ${String(e)}`));
      req.on('timeout', () => { req.destroy(); resolve(`${op}: no answer within 3 s`); });
      req.end(body);
    });
    console.log(line);
  }
  agent.destroy();
}

(api === 'net' ? netClient() : httpClient()).then(() => process.exit(0));
