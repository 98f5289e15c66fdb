/**
 * @module agent-channel/errors
 * How an operation on the agent channel can fail, as seen by the host. The sandbox layer maps each to
 * a user-facing error and, for a protocol violation, stops the sandbox.
 */

/** The channel is gone (the sandbox stopped, the server is closing, the shim went away). */
export class ChannelClosedError extends Error {
  override readonly name = 'ChannelClosedError';
}

/**
 * The agent broke the protocol: a malformed or out-of-order frame, a frame for a channel nobody
 * opened, output beyond its credit. Everything from the sandbox is untrusted, so this is an expected
 * outcome of a hostile sandbox, never a server error: its channel is closed and the sandbox stopped.
 */
export class AgentProtocolError extends Error {
  override readonly name = 'AgentProtocolError';
}

/** The agent did not answer within an operation's deadline. */
export class AgentTimeoutError extends Error {
  override readonly name = 'AgentTimeoutError';
}

/** The agent reported that an operation failed (errno and message from inside the sandbox). */
export class AgentOpError extends Error {
  override readonly name = 'AgentOpError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}
