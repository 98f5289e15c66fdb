/**
 * @module @airlock/sdk
 * TypeScript client for the Airlock sandbox API. Everything public is named here.
 */
export { Airlock } from './client.js';
export { DEFAULT_URL, type AirlockParams, type FetchLike } from './config.js';
export { SandboxService, type SandboxCreateParams, type SandboxListParams } from './sandboxes.js';
export { Sandbox } from './sandbox.js';
export { ImageService, type ImagePullParams, type PullProgress, type ImageBuildParams, type ImagePushEvent } from './images.js';
export { Image } from './image-recipe.js';
export { PoolService } from './pools.js';
export { ProjectService, KeyService, AuditService, type KeyCreateParams } from './tenancy.js';
export { EventService, WebhookService, type EventStreamParams } from './observe.js';
export { SandboxProcesses, SandboxPty, type ProcessStartParams, type ProcessOutput, type Pty, type PtyCreateParams } from './processes.js';
export { Attachment, type AttachParams, type ProcessExitInfo } from './attach.js';
export { SandboxFiles, type SandboxFileWriteParams, type SandboxFileReadParams } from './files.js';
export { SandboxNetwork, SandboxPorts } from './network.js';
export {
  SandboxCode,
  type RunCodeParams,
  type CreateContextParams,
  type CodeContextInfo,
  type CodeError,
  type CodeLanguage,
  type CodeResult,
  type Execution,
} from './code.js';
export { ExecStream, type ExecExit, type ExecStreamEvent, type ExecStreamCallbacks } from './exec-stream.js';
export { type Command, type SandboxExecParams, type SandboxExecBufferedParams, type SandboxExecStreamParams } from './exec-request.js';
export {
  AirlockError,
  NotFoundError,
  InvalidRequestError,
  InvalidStateError,
  ExecFailedError,
  AuthenticationError,
  ConnectionError,
  errorFromBody,
  type AirlockErrorCode,
  type AirlockErrorOptions,
  type ErrorIssue,
} from './errors.js';
export type {
  Sandbox as SandboxInfo,
  SandboxState,
  ExecResult,
  ExitReason,
  FileEntry,
  WriteFileResult,
  FileStat,
  ProcessInfo,
  PtySize,
  WatchEventWire as WatchEvent,
  RuntimeName,
  StopReason,
  Image as ImageInfo,
  BuildEvent,
  PruneResult,
  Project,
  Quotas,
  QuotaPatch,
  ApiKeyInfo,
  CreatedKey,
  KeyRole,
  AuditEvent,
} from '@airlock/protocol';
export { ErrorCode } from '@airlock/protocol/errors';
