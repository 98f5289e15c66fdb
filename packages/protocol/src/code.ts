/**
 * @module code
 * Wire schemas of the code interpreter: contexts (long-lived interpreters with their own state),
 * running a cell (buffered as an Execution, or streamed as NDJSON events), and the typed results.
 * Result fields follow E2B's code interpreter (text, html, markdown, svg, png, jpeg, pdf, latex,
 * json, javascript, chart, data), so that an E2B-compatible surface maps one to one.
 */
import { z } from 'zod';
import { EnvMap } from './sandbox.js';

export const CODE_LIMITS = {
  /** A cell's source, in UTF-8 bytes (413 beyond). */
  maxCellBytes: 1024 * 1024,
  /** One field of one result (an image's base64, an HTML string); larger text is cut, larger images dropped, with `truncated`. */
  maxResultBytes: 4 * 1024 * 1024,
  maxResultsPerCell: 256,
  /** Per stream and cell, what the server keeps of stdout and stderr (the rest is counted and dropped). */
  defaultMaxOutputBytes: 1024 * 1024,
  maxOutputBytes: 16 * 1024 * 1024,
  defaultTimeoutMs: 300_000,
  maxTimeoutMs: 24 * 3600 * 1000,
  maxContextsPerSandbox: 32,
} as const;

export const CODE_LANGUAGES = ['python', 'javascript', 'bash'] as const;
export const CodeLanguage = z.enum(CODE_LANGUAGES).meta({ id: 'CodeLanguage' });
export type CodeLanguage = z.infer<typeof CodeLanguage>;

const AbsPath = z
  .string()
  .min(1)
  .max(4096)
  .startsWith('/', 'cwd must be an absolute path')
  .refine((v) => !v.includes('\0'), 'cwd must not contain NUL');
const User = z.string().regex(/^([a-z_][a-z0-9_-]{0,31}|\d{1,10}(:\d{1,10})?)$/, 'user is a name, a uid, or uid:gid');

export const CreateContextRequest = z
  .object({
    language: CodeLanguage.optional().describe('Default python'),
    cwd: AbsPath.optional().describe("The interpreter's working directory (default: the image's)"),
    envs: EnvMap.optional().describe('Added to the sandbox environment for this context'),
    user: User.optional(),
    preload: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'a module name'))
      .max(32)
      .optional()
      .describe('Python: modules imported before the context is ready (e.g. numpy, pandas, matplotlib.pyplot), so its first cell does not pay for them'),
  })
  .strict()
  .meta({ id: 'CreateContextRequest' });
export type CreateContextRequest = z.infer<typeof CreateContextRequest>;

export const CODE_CONTEXT_STATES = ['starting', 'idle', 'busy', 'dead'] as const;

export const CodeContextInfo = z
  .object({
    id: z.string(),
    language: CodeLanguage,
    cwd: z.string().nullable(),
    state: z.enum(CODE_CONTEXT_STATES).describe('dead: the interpreter ended (it is started afresh by the next cell or a restart)'),
    default: z.boolean().describe('The context a cell without `context` runs in, one per language'),
    executionCount: z.number().int(),
    /** The process of the sandbox that runs the interpreter (see the processes API). */
    processId: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'CodeContext' });
export type CodeContextInfo = z.infer<typeof CodeContextInfo>;

export const CodeContextList = z.object({ contexts: z.array(CodeContextInfo) }).meta({ id: 'CodeContextList' });

export const RunCodeRequest = z
  .object({
    code: z.string().describe(`The cell; at most ${CODE_LIMITS.maxCellBytes} bytes of UTF-8 (413 beyond)`),
    language: CodeLanguage.optional().describe('Without `context`: run in the default context of this language (default python)'),
    context: z.string().min(1).max(64).optional().describe('The context to run in (404 if unknown)'),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(CODE_LIMITS.maxTimeoutMs)
      .optional()
      .describe(`Default ${CODE_LIMITS.defaultTimeoutMs}: then the cell is interrupted, and killed (the context restarted) if it does not stop`),
    onBusy: z.enum(['wait', 'reject']).optional().describe('While another cell runs in the context: wait in order (default), or answer 409'),
    figureFormats: z
      .array(z.enum(['png', 'svg']))
      .min(1)
      .max(2)
      .optional()
      .describe('How matplotlib figures are captured (default png)'),
    maxOutputBytes: z.number().int().min(0).max(CODE_LIMITS.maxOutputBytes).optional(),
  })
  .strict()
  .meta({ id: 'RunCodeRequest' });
export type RunCodeRequest = z.infer<typeof RunCodeRequest>;

/** Structured chart data of a matplotlib figure (line, bar, scatter, pie, or a superchart of several axes). */
export const ChartData = z.record(z.string(), z.unknown()).meta({ id: 'ChartData' });

export const CodeResult = z
  .object({
    text: z.string().optional(),
    html: z.string().optional(),
    markdown: z.string().optional(),
    svg: z.string().optional(),
    png: z.string().optional().describe('base64'),
    jpeg: z.string().optional().describe('base64'),
    pdf: z.string().optional().describe('base64'),
    latex: z.string().optional(),
    json: z.unknown().optional(),
    javascript: z.string().optional(),
    chart: ChartData.optional(),
    data: z.record(z.string(), z.unknown()).optional().describe('A pandas DataFrame as a table: columns, index, rows, dtypes, shape, truncated'),
    isMainResult: z.boolean().describe("The value of the cell's last expression (not a display() or a figure)"),
    truncated: z.boolean().optional().describe('A field was over the size limit: text cut, an image dropped'),
  })
  .meta({ id: 'CodeResult' });
export type CodeResult = z.infer<typeof CodeResult>;

export const CodeError = z.object({ name: z.string(), value: z.string(), traceback: z.string() }).meta({ id: 'CodeError' });
export type CodeError = z.infer<typeof CodeError>;

export const Execution = z
  .object({
    results: z.array(CodeResult),
    logs: z.object({ stdout: z.array(z.string()), stderr: z.array(z.string()) }),
    error: CodeError.nullable(),
    executionCount: z.number().int().nullable(),
    context: z.string(),
    durationMs: z.number(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    resultsDropped: z.number().int(),
  })
  .meta({ id: 'Execution' });
export type Execution = z.infer<typeof Execution>;

/** One line of the NDJSON stream of POST …/code/run (Accept: application/x-ndjson). */
export const CodeEvent = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('start'), context: z.string(), language: CodeLanguage }),
    z.object({ type: z.literal('stdout'), text: z.string() }),
    z.object({ type: z.literal('stderr'), text: z.string() }),
    CodeResult.extend({ type: z.literal('result') }),
    CodeError.extend({ type: z.literal('error') }),
    z.object({
      type: z.literal('end'),
      executionCount: z.number().int().nullable(),
      durationMs: z.number(),
      stdoutTruncated: z.boolean(),
      stderrTruncated: z.boolean(),
      resultsDropped: z.number().int(),
    }),
  ])
  .meta({ id: 'CodeEvent' });
export type CodeEvent = z.infer<typeof CodeEvent>;
