/**
 * @module image-config
 * The image a build stage is making: its OCI config (what ENV, LABEL, USER, WORKDIR, CMD,
 * ENTRYPOINT, EXPOSE and SHELL set), its layers and history, and the final config and manifest
 * documents. Timestamps are the build's epoch, so the same build gives the same digests.
 */
import { createHash } from 'node:crypto';
import type { ImageLayerRecord } from '../../store/store.js';
import { MediaType, hostArchitecture } from '../manifest.js';

export interface OciConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  StopSignal?: string;
  Volumes?: Record<string, Record<string, never>>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface StageImage {
  /** ChainID of the top layer; undefined while the stage has no layer (FROM scratch). */
  chain: string | undefined;
  layers: ImageLayerRecord[];
  config: OciConfig;
  history: HistoryEntry[];
  shell: string[];
  architecture: string;
  os: string;
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function scratchImage(): StageImage {
  return {
    chain: undefined,
    layers: [],
    config: { Env: [DEFAULT_PATH] },
    history: [],
    shell: [...DEFAULT_SHELL],
    architecture: hostArchitecture(),
    os: 'linux',
  };
}

/** A base image's stage state, from its stored config document and layers. */
export function stageFromImage(configDoc: Record<string, unknown>, layers: ImageLayerRecord[]): StageImage {
  const c = (configDoc.config ?? {}) as OciConfig & { Shell?: string[] };
  const history = Array.isArray(configDoc.history) ? (configDoc.history as HistoryEntry[]) : [];
  return {
    chain: layers[layers.length - 1]?.chainId,
    layers: [...layers],
    config: { ...c, Env: c.Env ?? [DEFAULT_PATH] },
    history: [...history],
    shell: Array.isArray(c.Shell) && c.Shell.length > 0 ? c.Shell : [...DEFAULT_SHELL],
    architecture: typeof configDoc.architecture === 'string' ? configDoc.architecture : hostArchitecture(),
    os: typeof configDoc.os === 'string' ? configDoc.os : 'linux',
  };
}

export function getEnv(config: OciConfig, name: string): string | undefined {
  for (const kv of config.Env ?? []) {
    const eq = kv.indexOf('=');
    if ((eq < 0 ? kv : kv.slice(0, eq)) === name) return eq < 0 ? '' : kv.slice(eq + 1);
  }
  return undefined;
}

export function setEnv(config: OciConfig, name: string, value: string): void {
  const env = (config.Env ?? []).filter((kv) => kv.split('=')[0] !== name);
  env.push(`${name}=${value}`);
  config.Env = env;
}

export interface WrittenImage {
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

/** The config and manifest documents of a finished stage. */
export function writeImageDocuments(img: StageImage, epochSeconds: number): WrittenImage {
  const created = new Date(epochSeconds * 1000).toISOString();
  const config: Record<string, unknown> = {
    ...img.config,
    ...(img.shell.join('\0') !== DEFAULT_SHELL.join('\0') ? { Shell: img.shell } : {}),
  };
  const doc = {
    created,
    architecture: img.architecture,
    os: img.os,
    config,
    rootfs: { type: 'layers', diff_ids: img.layers.map((l) => l.diffId) },
    history: img.history,
  };
  const configBytes = Buffer.from(JSON.stringify(doc));
  const configDigest = sha256(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: configBytes.length },
    layers: img.layers.map((l) => ({ mediaType: ociMediaType(l.mediaType), digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { config: configBytes, configDigest, manifest: manifestBytes, manifestDigest: sha256(manifestBytes) };
}

/** Docker's layer media types name the same bytes as OCI's; an OCI manifest names them the OCI way. */
export function ociMediaType(mediaType: string): string {
  if (mediaType === MediaType.DockerLayerGzip) return MediaType.OciLayerGzip;
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return MediaType.OciLayer;
  return mediaType;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}
