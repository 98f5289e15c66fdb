/**
 * @module attach-limits
 * Flow-control constants of the attach WebSocket, in a module of their own without zod, so a client
 * (the SDK, the CLI) can import them without loading every schema of the wire contract.
 */
export const ATTACH_LIMITS = {
  /** The server sends at most this much beyond the client's last ack… */
  unackedBytes: 1024 * 1024,
  /** …and a client acks at least every this many bytes it has taken. */
  ackEvery: 128 * 1024,
  /** Largest frame a client may send. */
  maxClientFrame: 64 * 1024,
} as const;
