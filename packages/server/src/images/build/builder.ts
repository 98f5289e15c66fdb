/**
 * @module builder
 * Builds an image from a parsed Dockerfile and a received context, step by step:
 *
 * - Stages run in order; only the target stage and the stages it needs (FROM a stage, COPY --from)
 *   are built. A FROM of an image pulls it if it is not here (a missing one is `image_not_found`).
 * - ENV, ARG, LABEL, USER, WORKDIR, CMD, ENTRYPOINT, EXPOSE and SHELL change the image config only;
 *   RUN runs in a sandbox (the StepRunner) and COPY/ADD (and a WORKDIR that must make its
 *   directory) write on the host into a private snapshot nothing runs in. Each of those commits one
 *   layer (layer-commit.ts).
 * - Every step has a cache key chained from the one before (step-cache.ts): an unchanged step takes
 *   its layer from the cache, and a changed one rebuilds from there on.
 * - The layers a build relies on are held against garbage collection until the image is recorded;
 *   a failed or cancelled build leaves no image and no work directory (the layers of the steps that
 *   finished stay as cache until `image prune`).
 */
import { Readable } from 'node:stream';
import { ErrorCode } from '@airlock/protocol/errors';
import { AirlockError } from '../../errors.js';
import { DEFAULT_PROJECT, type ImageRecord } from '../../store/store.js';
import type { Lease } from '../leases.js';
import { applyLayer } from '../layer-apply.js';
import { chainIds } from '../manifest.js';
import { formatReference, parseReference, repositoryName } from '../reference.js';
import type { BuildContext } from './build-context.js';
import { DockerfileError, parseDockerfile, stageNamed, type Dockerfile, type Stage } from './dockerfile.js';
import { typeInstruction, type Instruction } from './dockerfile-instructions.js';
import { planCopy, planWorkdir, type FilePlan } from './file-step.js';
import { getEnv, scratchImage, setEnv, stageFromImage, writeImageDocuments, type StageImage } from './image-config.js';
import { LayerTooLargeError, commitLayer } from './layer-commit.js';
import { chainKey, projectCacheKey, type CachedLayer } from './step-cache.js';
import { neededStages, targetStage } from './stage-plan.js';
import { TarWriter } from './tar-writer.js';

import { RUNTIME_ARTIFACTS, type BuildOptions, type BuilderDeps } from './build-types.js';

export { RUNTIME_ARTIFACTS, type BuildEvent, type BuildSettings, type BuildOptions, type BuilderDeps } from './build-types.js';

interface StageState {
  img: StageImage;
  key: string;
  args: Map<string, string | undefined>;
  /** CMD set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

export class Builder {
  readonly #d: BuilderDeps;

  constructor(deps: BuilderDeps) {
    this.#d = deps;
  }

  async build(o: BuildOptions): Promise<ImageRecord> {
    let df: Dockerfile;
    try {
      df = parseDockerfile(o.context.dockerfile);
    } catch (e) {
      throw dockerfileError(e);
    }
    const run = new BuildRun(this.#d, o, df);
    try {
      return await run.execute();
    } catch (e) {
      throw dockerfileError(e);
    } finally {
      run.release();
    }
  }
}

function dockerfileError(e: unknown): unknown {
  return e instanceof DockerfileError ? new AirlockError(ErrorCode.InvalidRequest, e.message) : e;
}

class BuildRun {
  readonly #holds: Lease[] = [];
  readonly #stages = new Map<number, StageState>();
  readonly #meta = new Map<string, string | undefined>();
  readonly #epoch: number;
  readonly #clamp: boolean;
  #step = 0;
  #steps = 0;

  /** The project the build acts for: whose references its FROM reads and its tags are. */
  get #project(): string {
    return this.o.project ?? DEFAULT_PROJECT;
  }

  constructor(
    private readonly d: BuilderDeps,
    private readonly o: BuildOptions,
    private readonly df: Dockerfile,
  ) {
    const sde = o.buildArgs.SOURCE_DATE_EPOCH;
    if (sde !== undefined && !/^\d{1,12}$/.test(sde)) throw new AirlockError(ErrorCode.InvalidRequest, 'SOURCE_DATE_EPOCH must be whole seconds since 1970');
    this.#epoch = sde === undefined ? 0 : Number(sde);
    this.#clamp = sde !== undefined;
  }

  release(): void {
    for (const h of this.#holds.splice(0)) h.release();
  }

  async execute(): Promise<ImageRecord> {
    const { df, o } = this;
    for (const raw of df.metaArgs) {
      const ins = typeInstruction(raw, (n) => this.#meta.get(n), { escape: df.escape });
      if (ins.kind === 'ARG') for (const a of ins.args) this.#meta.set(a.name, o.buildArgs[a.name] ?? a.value);
    }
    const target = targetStage(df, o.target);
    const needed = neededStages(df, target, (n) => this.#meta.get(n));
    this.#steps = df.stages.filter((s) => needed.has(s.index)).reduce((n, s) => n + 1 + s.instructions.length, 0);
    for (const stage of df.stages) {
      if (needed.has(stage.index)) this.#stages.set(stage.index, await this.#buildStage(stage));
    }
    return this.#record(this.#stages.get(target.index)!.img);
  }

  async #buildStage(stage: Stage): Promise<StageState> {
    const from = typeInstruction(stage.from, (n) => this.#meta.get(n), { escape: this.df.escape });
    if (from.kind !== 'FROM') throw new Error('unreachable');
    await this.#announce(stage, from.line, `FROM ${from.image}${from.alias ? ` AS ${from.alias}` : ''}`);
    const state = await this.#base(from.image, stage.index, from.line);
    for (const raw of stage.instructions) {
      this.#checkCancelled();
      const lookup = (n: string) => getEnv(state.img.config, n) ?? state.args.get(n);
      const ins = typeInstruction(raw, lookup, { escape: this.df.escape });
      await this.#announce(stage, ins.line, `${raw.keyword} ${raw.args}`.trim());
      await this.#apply(state, ins, stage);
    }
    return state;
  }

  async #base(image: string, index: number, line: number): Promise<StageState> {
    const args = new Map<string, string | undefined>();
    if (image.toLowerCase() === 'scratch') return { img: scratchImage(), key: chainKey('scratch'), args, cmdSet: false };
    const dep = stageNamed(this.df, image, index);
    if (dep) {
      const s = this.#stages.get(dep.index)!;
      return { img: structuredClone(s.img), key: chainKey('stage', s.key), args, cmdSet: false };
    }
    const record = await this.#image(image, line);
    const configDoc = JSON.parse(this.d.content.read(record.configDigest).toString('utf8')) as Record<string, unknown>;
    return { img: stageFromImage(configDoc, record.layers), key: chainKey('image', record.id), args, cmdSet: false };
  }

  /** A local image, pulled when missing; held against garbage collection for the build. */
  async #image(ref: string, line: number): Promise<ImageRecord> {
    let record: ImageRecord | undefined;
    try {
      const local = await this.d.images.find(this.#project, ref);
      // Another project's image is not there for this build: it is pulled as a missing one would be,
      // which succeeds only where its registry gives it to anyone who asks.
      const usable = local && (!this.o.canUse || (await this.o.canUse(local.id))) ? local : undefined;
      record = usable ?? (await this.d.images.pull(this.#project, ref));
    } catch (e) {
      if (e instanceof AirlockError) throw new AirlockError(e.code, `Dockerfile line ${line}: ${e.message}`);
      throw e;
    }
    this.#holds.push(this.d.images.leases.acquire([record.id, record.configDigest, ...record.layers.flatMap((l) => [l.digest, l.chainId])]));
    return record;
  }

  async #apply(state: StageState, ins: Instruction, stage: Stage): Promise<void> {
    const img = state.img;
    const c = img.config;
    const meta = (text: string, ...inputs: unknown[]) => {
      state.key = chainKey(state.key, text, ...inputs);
      img.history.push({ created: this.#created(), created_by: text, empty_layer: true });
    };
    switch (ins.kind) {
      case 'ARG':
        for (const a of ins.args) state.args.set(a.name, this.o.buildArgs[a.name] ?? a.value ?? this.#meta.get(a.name));
        // The values, not only the names, key what follows: a RUN sees them.
        return meta(
          `ARG ${ins.args.map((a) => a.name).join(' ')}`,
          ins.args.map((a) => [a.name, state.args.get(a.name) ?? null]),
        );
      case 'ENV':
        for (const [k, v] of ins.pairs) setEnv(c, k, v);
        return meta(`ENV ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      case 'LABEL':
        c.Labels = { ...c.Labels, ...Object.fromEntries(ins.pairs) };
        return meta(`LABEL ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
      case 'USER':
        c.User = ins.user;
        return meta(`USER ${ins.user}`);
      case 'EXPOSE':
        c.ExposedPorts = { ...c.ExposedPorts, ...Object.fromEntries(ins.ports.map((p) => [p, {}])) };
        return meta(`EXPOSE ${ins.ports.join(' ')}`);
      case 'SHELL':
        img.shell = ins.shell;
        return meta(`SHELL ${JSON.stringify(ins.shell)}`);
      case 'CMD':
      case 'ENTRYPOINT': {
        const argv = ins.command.form === 'exec' ? ins.command.argv : [...img.shell, ins.command.text];
        if (ins.kind === 'CMD') {
          c.Cmd = argv;
          state.cmdSet = true;
        } else {
          c.Entrypoint = argv;
          if (!state.cmdSet) delete c.Cmd; // Docker: an ENTRYPOINT drops the CMD the base image had
        }
        return meta(`${ins.kind} ${JSON.stringify(argv)}`);
      }
      case 'WORKDIR': {
        const path = ins.path.startsWith('/') ? ins.path : `${(c.WorkingDir || '/').replace(/\/$/, '')}/${ins.path}`;
        c.WorkingDir = path;
        const plan = planWorkdir(path, this.#root(state), this.#epoch);
        if (!plan) return meta(`WORKDIR ${path}`);
        return this.#layerStep(state, `WORKDIR ${path}`, [], () => this.#hostStep(state, plan));
      }
      case 'COPY':
      case 'ADD': {
        const source = await this.#copySource(ins.from, stage, ins.line);
        const plan = planCopy(ins, source, this.#root(state), c.WorkingDir ?? '/', this.#epoch);
        const text = `${ins.kind}${ins.from ? ` --from=${ins.from}` : ''}${ins.chown ? ` --chown=${ins.chown}` : ''}${ins.chmod !== undefined ? ` --chmod=${ins.chmod.toString(8)}` : ''} ${[...ins.sources, ...ins.heredocs.map((h) => `<<${h.name}`)].join(' ')} ${ins.dest}`;
        return this.#layerStep(state, text, plan.inputs, () => this.#hostStep(state, plan));
      }
      case 'RUN':
        return this.#run(state, ins);
      case 'FROM':
        throw new Error('unreachable: FROM inside a stage');
    }
  }

  async #run(state: StageState, ins: Extract<Instruction, { kind: 'RUN' }>): Promise<void> {
    const img = state.img;
    const argv = ins.command.form === 'exec' ? ins.command.argv : [...img.shell, ins.command.text];
    if (img.chain === undefined)
      throw new DockerfileError('RUN needs a root filesystem, and this stage has none yet (FROM scratch with nothing copied)', ins.line);
    const env = [...(img.config.Env ?? [])];
    for (const [k, v] of state.args) if (v !== undefined && getEnv(img.config, k) === undefined) env.push(`${k}=${v}`);
    const step = this.#step;
    const parent = img.chain;
    await this.#layerStep(state, `RUN ${JSON.stringify(argv)}`, [env, img.config.User ?? '', img.config.WorkingDir ?? '/'], async () => {
      const { work } = await this.d.runner.run({
        parent,
        argv,
        env,
        user: img.config.User || 'root',
        cwd: img.config.WorkingDir || '/',
        runtime: this.o.runtime,
        allow: this.o.allow,
        project: this.o.project,
        timeoutSeconds: this.o.timeoutSeconds,
        signal: this.o.signal,
        onOutput: (stream, data) => this.o.onEvent({ type: 'output', step, stream, data: data.toString('utf8') }),
      });
      return work;
    });
  }

  /** Writes a planned COPY/ADD/WORKDIR into a private snapshot of the stage's top layer. */
  async #hostStep(state: StageState, plan: FilePlan): Promise<string> {
    const work = await this.d.snapshotter.prepareWork(state.img.chain);
    try {
      const tar = new TarWriter();
      const writing = plan.write(tar, this.#project).catch((e: unknown) => {
        tar.stream.destroy(e as Error);
        throw e;
      });
      const applying = applyLayer(tar.stream as unknown as Readable, work).catch((e: unknown) => {
        tar.stream.destroy();
        throw e;
      });
      await Promise.all([writing, applying]);
      return work;
    } catch (e) {
      await this.d.snapshotter.discardWork(work);
      throw e;
    }
  }

  /** Looks the step up in the cache or makes it with `make` (which returns a work dir), then commits it. */
  async #layerStep(state: StageState, text: string, inputs: unknown[], make: () => Promise<string>): Promise<void> {
    const { snapshotter, content, cache } = this.d;
    const img = state.img;
    const key = chainKey(state.key, text, ...inputs);
    const cacheKey = projectCacheKey(this.o.project, key);
    const started = Date.now();
    const present = (l: CachedLayer) => snapshotter.hasLayer(l.chainId) && content.has(l.digest);
    let layer = this.o.noCache ? undefined : cache.get(cacheKey, present);
    const cached = layer !== undefined;
    let commit: { ms: number; tarBytes: number } | undefined;
    if (layer) {
      this.#holds.push(this.d.images.leases.acquire([layer.digest, layer.chainId]));
    } else {
      const work = await make();
      try {
        this.#checkCancelled();
        const commitStart = performance.now();
        const committed = await commitLayer({
          lower: img.chain === undefined ? undefined : snapshotter.layerPath(img.chain),
          upper: work,
          rule: { epoch: this.#epoch, stepStartNs: BigInt(started - 1000) * 1_000_000n, clamp: this.#clamp },
          compression: this.o.compression,
          content,
          runtimeArtifacts: RUNTIME_ARTIFACTS,
          maxFileBytes: this.d.maxLayerBytes,
          project: this.#project,
        });
        commit = { ms: Math.round(performance.now() - commitStart), tarBytes: committed.tarBytes };
        const chainId = chainIds([...img.layers.map((l) => l.diffId), committed.diffId]).pop()!;
        layer = { digest: committed.digest, mediaType: committed.mediaType, size: committed.size, diffId: committed.diffId, chainId };
        this.#holds.push(this.d.images.leases.acquire([layer.digest, layer.chainId]));
        await snapshotter.commitWork(work, chainId);
      } catch (e) {
        await snapshotter.discardWork(work).catch(() => {});
        if (e instanceof LayerTooLargeError) throw new AirlockError(ErrorCode.BuildFailed, `${text.slice(0, 200)}: ${e.message}`);
        throw e;
      }
      cache.put(cacheKey, layer);
    }
    img.layers.push(layer);
    img.chain = layer.chainId;
    img.history.push({ created: this.#created(), created_by: text });
    state.key = key;
    await this.o.onEvent({
      type: 'layer',
      step: this.#step,
      digest: layer.digest,
      diffId: layer.diffId,
      size: layer.size,
      cached,
      durationMs: Date.now() - started,
      ...(commit ? { commit } : {}),
    });
  }

  async #copySource(from: string | undefined, stage: Stage, line: number): Promise<{ root: string; id: string; context: BuildContext | undefined }> {
    if (from === undefined) return { root: this.o.context.dir, id: 'context', context: this.o.context };
    const dep = stageNamed(this.df, from, stage.index);
    if (!dep) {
      const record = await this.#image(from, line);
      return { root: this.d.snapshotter.layerPath(record.layers[record.layers.length - 1]!.chainId), id: `image ${record.id}`, context: undefined };
    }
    const s = this.#stages.get(dep.index)!;
    if (s.img.chain === undefined) throw new DockerfileError(`COPY --from=${from}: that stage has no files`, line);
    return { root: this.d.snapshotter.layerPath(s.img.chain), id: `stage ${dep.name ?? dep.index} (${s.img.chain})`, context: undefined };
  }

  #root(state: StageState): string | undefined {
    return state.img.chain === undefined ? undefined : this.d.snapshotter.layerPath(state.img.chain);
  }

  async #announce(stage: Stage, line: number, instruction: string): Promise<void> {
    this.#step++;
    await this.o.onEvent({ type: 'step', step: this.#step, steps: this.#steps, stage: stage.index, line, instruction: instruction.slice(0, 500) });
  }

  #created(): string {
    return new Date(this.#epoch * 1000).toISOString();
  }

  #checkCancelled(): void {
    if (this.o.signal.aborted) throw new AirlockError(ErrorCode.BuildFailed, 'the build was cancelled');
  }

  async #record(img: StageImage): Promise<ImageRecord> {
    const { content, images } = this.d;
    if (img.layers.length === 0) throw new AirlockError(ErrorCode.InvalidRequest, 'the image has no layers: FROM scratch needs a COPY, ADD or RUN');
    const docs = writeImageDocuments(img, this.#epoch);
    await content.put(docs.configDigest, docs.config);
    const source = {
      open: async (digest: string): Promise<Readable> => Promise.reject(new Error(`blob ${digest} of a built image is missing from the store`)),
    };
    const refs = this.o.tags.map((t) => formatReference(parseReference(t)));
    const repository = refs[0] === undefined ? 'build' : repositoryName(parseReference(refs[0]));
    // The tags are the building project's own: another project's tag of the same name stays where it was.
    const owner = (reference: string | undefined) => ({ project: this.#project, reference });
    let record = await images.install(docs.manifest, docs.manifestDigest, repository, owner(refs[0]), source);
    for (const r of refs.slice(1)) record = await images.install(docs.manifest, docs.manifestDigest, repository, owner(r), source);
    return record;
  }
}
