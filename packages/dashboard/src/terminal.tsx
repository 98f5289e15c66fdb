/**
 * @module terminal
 * A live terminal: a shell started on a PTY in the sandbox (POST …/processes with `pty`), attached
 * over the processes WebSocket with a single-use ticket (a browser cannot send an Authorization
 * header on a WebSocket), rendered by xterm.js. Binary frames carry the terminal's bytes both ways;
 * text frames are the control messages (resize, ack).
 */
// xterm.js is installed under an npm alias (xterm-browser): installed as @xterm/xterm it would be
// what the server's @xterm/addon-serialize types resolve to, and its DOM typings would leak into the
// server's build. Its typings declare the module '@xterm/xterm' (tsconfig "types"); the bundler maps it.
import { Terminal as Xterm } from '@xterm/xterm';
import { useEffect, useRef, useState } from 'preact/hooks';
import { json } from './api.js';

const ACK_EVERY = 64 * 1024;

export function Terminal({ sandbox }: { sandbox: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('starting a shell…');
  useEffect(() => {
    const term = new Xterm({ cols: 100, rows: 28, fontSize: 13, convertEol: false, cursorBlink: true });
    term.open(host.current!);
    let ws: WebSocket | undefined;
    let closed = false;
    void (async () => {
      try {
        const base = `/v1/sandboxes/${encodeURIComponent(sandbox)}/processes`;
        const proc = await json<{ id: string }>('POST', base, {
          cmd: ['/bin/sh', '-c', 'command -v bash >/dev/null && exec bash -l || exec sh -l'],
          pty: { cols: term.cols, rows: term.rows },
          tag: 'dashboard-terminal',
        });
        const { url } = await json<{ url: string }>('POST', `${base}/${encodeURIComponent(proc.id)}/ticket`);
        if (closed) return;
        // snapshot: the screen as it is (the shell's prompt was printed before we attached).
        ws = new WebSocket(`${url}&pace=true&snapshot=true`);
        ws.binaryType = 'arraybuffer';
        let taken = 0;
        let offset = 0;
        let screen = false;
        ws.onmessage = (m) => {
          if (typeof m.data === 'string') {
            const msg = JSON.parse(m.data) as { type: string; offset?: number; exitCode?: number | null };
            if (msg.type === 'attached') {
              offset = msg.offset ?? 0;
              setStatus('connected');
            } else if (msg.type === 'snapshot') {
              // The next binary frame redraws the screen; live output goes on from this offset.
              offset = msg.offset ?? offset;
              screen = true;
            } else if (msg.type === 'exit') setStatus(`the shell exited (${msg.exitCode ?? 'signal'})`);
            return;
          }
          const bytes = new Uint8Array(m.data as ArrayBuffer);
          term.write(bytes.subarray(1));
          if (screen) {
            screen = false;
            return;
          }
          offset += bytes.length - 1;
          taken += bytes.length - 1;
          if (taken >= ACK_EVERY) {
            taken = 0;
            ws!.send(JSON.stringify({ type: 'ack', offset }));
          }
        };
        ws.onclose = () => setStatus((s) => (s.startsWith('the shell') ? s : 'disconnected'));
        const enc = new TextEncoder();
        term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(enc.encode(d)));
        term.onResize(({ cols, rows }) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', cols, rows })));
        term.focus();
      } catch (e) {
        setStatus(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      closed = true;
      // Leaving the page hangs the shell up, as closing a terminal window does.
      if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'signal', signal: 'SIGHUP' }));
      ws?.close();
      term.dispose();
    };
  }, [sandbox]);
  return (
    <div>
      <p class="term-status">{status}</p>
      <div class="terminal" ref={host} />
    </div>
  );
}
