// The Airlock JavaScript driver: one long-lived Node.js per code context. The bootstrap (in argv)
// read the first line of stdin (this source, the nonce, the limits) and runs this as a function of
// BOOT and require. Cells are evaluated by Node's own REPL evaluator (top-level await, let/const
// that persist from cell to cell, the last expression's value); commands arrive as JSON lines on
// stdin; user output goes to fds 1 and 2 unchanged; frames (see python.py) go to fd 1 as lines
// under PIPE_BUF carrying the nonce. Node cannot keep a private copy of fd 1, so a cell that closes
// fd 1 ends the driver (the host reports it and starts a fresh one).
'use strict';
const fs = require('fs');
const repl = require('repl');
const util = require('util');
const vm = require('vm');
const { PassThrough } = require('stream');

const MARK = '\x1e' + BOOT.nonce + ' ';
const MAX_RESULT = (BOOT.limits && BOOT.limits.maxResultBytes) || 4 << 20;
const PIECE = 3800 - MARK.length;
const MAX_TRACEBACK = 64 * 1024;
const seqs = { 1: 0, 2: 0 };
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAll(line, fd) {
  let buf = Buffer.from(line, 'latin1');
  while (buf.length > 0) {
    try {
      buf = buf.subarray(fs.writeSync(fd, buf));
    } catch (e) {
      if (e.code !== 'EAGAIN') process.exit(71);
      Atomics.wait(pause, 0, 0, 1); // a full pipe: wait for the host to read
    }
  }
}

/** A frame on fd 1, or (a fence: stderr, another pipe, holds all of the cell's output) on fd 2. */
function send(obj, fd = 1) {
  const data = JSON.stringify(obj).replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const seq = (seqs[fd] += 1);
  for (let i = 0; ; i += PIECE) {
    const more = i + PIECE < data.length ? '1' : '0';
    writeAll(MARK + seq + ' ' + more + ' ' + data.slice(i, i + PIECE) + '\n', fd);
    if (more === '0') return;
  }
}

const server = repl.start({ input: new PassThrough(), output: new PassThrough(), terminal: false, prompt: '', useGlobal: true, ignoreUndefined: true, breakEvalOnSigint: true });
let executionCount = 0;
let current = null;

function errorOf(e) {
  if (e && e.constructor && e.constructor.name === 'Recoverable' && e.err) e = e.err; // an incomplete cell is a syntax error
  const isObj = e !== null && typeof e === 'object';
  // The driver's and Node's own frames are not the user's business.
  let stack = isObj && typeof e.stack === 'string' ? e.stack.split('\n').filter((l) => !/node:|\[eval\]|^\s+at (runCell|next|finish) /.test(l)).join('\n') : String(e);
  if (stack.length > MAX_TRACEBACK) stack = stack.slice(0, MAX_TRACEBACK);
  return { name: isObj && typeof e.name === 'string' ? e.name : 'Error', value: String(isObj && 'message' in e ? e.message : e).slice(0, MAX_TRACEBACK), traceback: stack };
}

function finish(cell, err, value) {
  if (current !== cell) return;
  current = null;
  const end = { type: 'end', cell: cell.id, executionCount: cell.count };
  if (err !== null && err !== undefined) end.error = errorOf(err);
  else if (value !== undefined) {
    let text;
    try {
      text = util.inspect(value, { depth: 6, maxArrayLength: 1000, maxStringLength: MAX_RESULT });
    } catch (e) {
      text = '[inspect failed: ' + e + ']';
    }
    const r = { type: 'result', cell: cell.id, isMainResult: true, text: text.slice(0, MAX_RESULT) };
    if (text.length > MAX_RESULT) r.truncated = true;
    send(r);
  }
  send({ type: 'fence', cell: cell.id }, 2);
  send(end);
  setImmediate(next);
}

// An interrupt ends the cell being awaited (a synchronous loop is broken by the REPL itself).
process.on('SIGINT', () => {
  if (current) finish(current, Object.assign(new Error('interrupted'), { name: 'KeyboardInterrupt' }));
});
process.on('uncaughtException', (e) => process.stderr.write('Uncaught ' + (e && e.stack ? e.stack : String(e)) + '\n'));
process.on('unhandledRejection', (e) => process.stderr.write('Unhandled rejection ' + (e && e.stack ? e.stack : String(e)) + '\n'));

const queue = [];
function next() {
  if (current || queue.length === 0) return;
  const cmd = queue.shift();
  if (cmd.type !== 'run') return next();
  executionCount += 1;
  const cell = { id: cmd.cell, count: executionCount };
  current = cell;
  runCell(cell, cmd.code);
}

// A cell without top-level await is a vm.Script in this context (its let and const persist, its
// completion value is the cell's value, a throw is caught here); one with await goes through the
// REPL's evaluator, which rewrites it into an async function and hands back its value or rejection.
function runCell(cell, code) {
  const filename = 'cell-' + cell.count;
  let script;
  try {
    script = new vm.Script(code, { filename });
  } catch (e) {
    if (e instanceof SyntaxError && /await/.test(e.message)) {
      try {
        server.eval(code, server.context, filename, (err, value) => finish(cell, err, value));
      } catch (e2) {
        finish(cell, e2);
      }
      return;
    }
    return finish(cell, e);
  }
  let value;
  try {
    value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
  } catch (e) {
    if (e && typeof e.message === 'string' && e.message.includes('interrupted by `SIGINT`')) e.name = 'KeyboardInterrupt';
    return finish(cell, e);
  }
  finish(cell, null, value);
}

let inbuf = BOOT.rest || Buffer.alloc(0);
function take(chunk) {
  inbuf = inbuf.length ? Buffer.concat([inbuf, chunk]) : chunk;
  let i;
  while ((i = inbuf.indexOf(10)) >= 0) {
    const line = inbuf.subarray(0, i).toString('utf8');
    inbuf = inbuf.subarray(i + 1);
    try {
      queue.push(JSON.parse(line));
    } catch {
      process.exit(74);
    }
  }
  next();
}
process.stdin.on('data', take);
process.stdin.on('end', () => process.exit(0));
send({ type: 'ready', language: 'javascript', version: process.version, pid: process.pid });
take(Buffer.alloc(0));
