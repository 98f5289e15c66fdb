/**
 * @module reference
 * Image references as users type them (`python:3.12-slim`, `ghcr.io/o/r@sha256:…`,
 * `127.0.0.1:5000/team/py:1`), normalised the way Docker does so that the same image has one name:
 * a registry host, a repository path, and a tag or a digest (a digest pins; a tag is resolved at pull).
 */

export interface ImageReference {
  /** Registry host as the user names it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  registry: string;
  /** Repository path within the registry (`library/python`). */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export class ReferenceError extends Error {
  override readonly name = 'ReferenceError';
}

/** Parses and normalises a reference; throws ReferenceError with a message that says what is wrong. */
export function parseReference(input: string): ImageReference {
  const raw = input.trim();
  if (raw === '' || raw.length > 512) throw new ReferenceError(`image reference ${JSON.stringify(input)} is empty or too long`);
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(`image reference ${JSON.stringify(input)}: digest must be sha256: followed by 64 hex digits`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(`image reference ${JSON.stringify(input)}: tag ${JSON.stringify(tag)} is not valid`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw new ReferenceError(`image reference ${JSON.stringify(input)}: registry host ${JSON.stringify(registry)} is not valid`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_ENDPOINT) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  for (const c of parts) {
    if (!COMPONENT.test(c)) {
      throw new ReferenceError(
        `image reference ${JSON.stringify(input)}: repository component ${JSON.stringify(c)} must be lowercase letters, digits and separators`,
      );
    }
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: parts.join('/'), tag, digest };
}

/** The canonical name: `docker.io/library/python:3.12-slim` or `…/python@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  if (ref.digest !== undefined) return `${name}@${ref.digest}`;
  return `${name}:${ref.tag ?? 'latest'}`;
}

/** The repository without tag or digest: `docker.io/library/python`. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The host that serves the registry API for a reference's registry. */
export function registryEndpoint(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry;
}

/** Loopback registries speak plain HTTP by default, as with Docker. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}
