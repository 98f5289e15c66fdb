/**
 * @module dockerfile
 * A parsed Dockerfile: the ARGs before the first FROM (usable in FROM lines) and the stages, each a
 * FROM plus its instructions. Parsing checks every instruction once with variables unknown, so a
 * Dockerfile that cannot build fails before anything runs, with its line; the builder types each
 * instruction again with the real variables when it reaches it.
 */
import { DockerfileError, lexDockerfile, type RawInstruction } from './dockerfile-lexer.js';
import { typeInstruction, type Instruction } from './dockerfile-instructions.js';

export { DockerfileError } from './dockerfile-lexer.js';

export interface Stage {
  index: number;
  /** The `AS` name, lower-cased, if any. */
  name: string | undefined;
  from: RawInstruction;
  instructions: RawInstruction[];
}

export interface Dockerfile {
  escape: '\\' | '`';
  metaArgs: RawInstruction[];
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const { escape, instructions } = lexDockerfile(text);
  const metaArgs: RawInstruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const raw of instructions) {
    const typed = typeInstruction(raw, () => undefined, { escape, lenient: true });
    if (typed.kind === 'FROM') {
      if (typed.alias !== undefined) {
        if (names.has(typed.alias)) throw new DockerfileError(`stage name ${typed.alias} is used twice`, raw.line);
        names.add(typed.alias);
      }
      stages.push({ index: stages.length, name: typed.alias, from: raw, instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) {
      if (typed.kind !== 'ARG') throw new DockerfileError(`${raw.keyword} comes before the first FROM (only ARG may)`, raw.line);
      metaArgs.push(raw);
      continue;
    }
    stage.instructions.push(raw);
  }
  if (stages.length === 0) throw new DockerfileError('the Dockerfile has no FROM instruction', undefined);
  return { escape, metaArgs, stages };
}

/** The stage a `FROM` or `COPY --from` names among the stages before `before`: by name or index; undefined for an image. */
export function stageNamed(df: Dockerfile, ref: string, before: number): Stage | undefined {
  const lower = ref.toLowerCase();
  const byName = df.stages.slice(0, before).find((s) => s.name === lower);
  if (byName) return byName;
  if (/^\d+$/.test(ref)) {
    const i = Number(ref);
    if (i >= before) throw new DockerfileError(`stage ${ref} is not an earlier stage`, undefined);
    return df.stages[i];
  }
  return undefined;
}

export type { Instruction, RawInstruction };
