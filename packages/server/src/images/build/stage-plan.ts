/**
 * @module stage-plan
 * Which stages of a Dockerfile a build runs: the target (the last stage, or the one named) and
 * every stage it depends on through FROM and COPY --from. Pure: the builder runs them in order.
 */
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../../errors.js';
import { stageNamed, type Dockerfile, type Stage } from './dockerfile.js';
import { typeInstruction } from './dockerfile-instructions.js';

export function targetStage(df: Dockerfile, target: string | undefined): Stage {
  if (target === undefined) return df.stages[df.stages.length - 1]!;
  const t = df.stages.find((s) => s.name === target.toLowerCase());
  if (!t)
    throw new AirlockError(
      ErrorCode.InvalidRequest,
      `target stage ${JSON.stringify(target)} is not in the Dockerfile (stages: ${df.stages.map((s) => s.name ?? s.index).join(', ')})`,
    );
  return t;
}

/** The target and every stage it depends on, through FROM and COPY --from (`meta`: the ARGs before the first FROM). */
export function neededStages(df: Dockerfile, target: Stage, meta: (name: string) => string | undefined): Set<number> {
  const needed = new Set<number>();
  const visit = (s: Stage) => {
    if (needed.has(s.index)) return;
    needed.add(s.index);
    const from = typeInstruction(s.from, meta, { escape: df.escape, lenient: true });
    const refs = from.kind === 'FROM' ? [from.image] : [];
    for (const raw of s.instructions) {
      if (raw.keyword !== 'COPY') continue;
      const ins = typeInstruction(raw, meta, { escape: df.escape, lenient: true });
      if (ins.kind === 'COPY' && ins.from !== undefined) refs.push(ins.from);
    }
    for (const r of refs) {
      const dep = stageNamed(df, r, s.index);
      if (dep) visit(dep);
    }
  };
  visit(target);
  return needed;
}
