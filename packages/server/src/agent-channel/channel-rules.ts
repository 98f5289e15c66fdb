/**
 * @module channel-rules
 * Which agent frames each kind of channel accepts, in which order, and which one ends it
 * (PROTOCOL.md). The connection checks every frame against these rules before a consumer sees it, so
 * consumers can rely on the order: no output before STARTED, nothing after the final frame.
 */
import { AgentFrame } from '@airlock/agent';

export type ChannelKind = 'exec' | 'subscribe' | 'read' | 'write' | 'list' | 'ping' | 'plist' | 'op' | 'stat' | 'watch';

/** Kinds that live as long as a process does: counted against the process limit, not the operation limit. */
export const PROCESS_KINDS: ReadonlySet<ChannelKind> = new Set(['exec', 'subscribe']);

/** Where a channel is in its exchange; only exec and subscribe have more than one phase. */
export type ChannelPhase = 'open' | 'started';

export type Verdict = { ok: true; final: boolean; phase: ChannelPhase } | { ok: false; why: string };

const name = (type: number) =>
  Object.entries(AgentFrame)
    .find(([, v]) => v === type)?.[0]
    ?.toUpperCase() ?? `0x${type.toString(16)}`;

export function judgeFrame(kind: ChannelKind, phase: ChannelPhase, type: number): Verdict {
  const ok = (final: boolean, next: ChannelPhase = phase): Verdict => ({ ok: true, final, phase: next });
  if (type === AgentFrame.Error) return ok(true);
  switch (kind) {
    case 'exec':
      if (phase === 'open') return type === AgentFrame.Started ? ok(false, 'started') : bad(`${name(type)} before STARTED on an exec channel`);
      if (type === AgentFrame.Stdout || type === AgentFrame.Stderr || type === AgentFrame.StdinAck) return ok(false);
      if (type === AgentFrame.Exited) return ok(true);
      return bad(`${name(type)} on a running exec channel`);
    case 'subscribe':
      if (phase === 'open') return type === AgentFrame.Subscribed ? ok(false, 'started') : bad(`${name(type)} before SUBSCRIBED on a subscription`);
      if (type === AgentFrame.Stdout || type === AgentFrame.Stderr || type === AgentFrame.StdinAck) return ok(false);
      if (type === AgentFrame.Exited) return ok(true);
      return bad(`${name(type)} on a subscription`);
    case 'plist':
      if (type === AgentFrame.ProcInfo) return ok(false);
      if (type === AgentFrame.ProcEnd) return ok(true);
      return bad(`${name(type)} on a process listing`);
    case 'op':
      if (type === AgentFrame.Ok) return ok(true);
      return bad(`${name(type)} on a file operation channel`);
    case 'stat':
      if (type === AgentFrame.StatResult) return ok(true);
      return bad(`${name(type)} on a stat channel`);
    case 'watch':
      if (type === AgentFrame.WatchEvents) return ok(false);
      return bad(`${name(type)} on a watch channel`);
    case 'read':
      if (type === AgentFrame.FileData) return ok(false);
      if (type === AgentFrame.FileEnd) return ok(true);
      return bad(`${name(type)} on a file-read channel`);
    case 'write':
      if (type === AgentFrame.Ok) return ok(true);
      return bad(`${name(type)} on a file-write channel`);
    case 'list':
      if (type === AgentFrame.DirEntries) return ok(false);
      if (type === AgentFrame.DirEnd) return ok(true);
      return bad(`${name(type)} on a directory-list channel`);
    case 'ping':
      if (type === AgentFrame.Pong) return ok(true);
      return bad(`${name(type)} on a ping channel`);
  }
}

function bad(why: string): Verdict {
  return { ok: false, why };
}
