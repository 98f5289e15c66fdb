import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatReference, isLoopbackRegistry, parseReference, registryEndpoint } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('references normalise the way Docker does', { timeout: 60_000 }, () => {
  const cases: [string, string][] = [
    ['python', 'docker.io/library/python:latest'],
    ['python:3.12-slim', 'docker.io/library/python:3.12-slim'],
    ['bitnami/redis:7', 'docker.io/bitnami/redis:7'],
    ['index.docker.io/library/alpine', 'docker.io/library/alpine:latest'],
    ['ghcr.io/org/team/tool:v1.2', 'ghcr.io/org/team/tool:v1.2'],
    ['127.0.0.1:5000/sandbox/py:1', '127.0.0.1:5000/sandbox/py:1'],
    ['localhost/x', 'localhost/x:latest'],
    [`python@${D}`, `docker.io/library/python@${D}`],
    [`python:3.12@${D}`, `docker.io/library/python@${D}`],
  ];
  for (const [input, canonical] of cases) assert.equal(formatReference(parseReference(input)), canonical, input);
});

test('malformed references are refused with a message naming the part', { timeout: 60_000 }, () => {
  assert.throws(() => parseReference('Python'), /repository component "Python"/);
  assert.throws(() => parseReference('python@sha256:abc'), /digest must be sha256/);
  assert.throws(() => parseReference('python:bad tag'), /tag "bad tag"/);
  assert.throws(() => parseReference(''), /empty/);
  assert.throws(() => parseReference('a/../b'), /component "\.\."/);
});

test('loopback registries are plain HTTP by default; Docker Hub has its own endpoint', { timeout: 60_000 }, () => {
  assert.equal(isLoopbackRegistry('127.0.0.1:5000'), true);
  assert.equal(isLoopbackRegistry('localhost:5000'), true);
  assert.equal(isLoopbackRegistry('[::1]:5000'), true);
  assert.equal(isLoopbackRegistry('127.example.com'), false);
  assert.equal(isLoopbackRegistry('ghcr.io'), false);
  assert.equal(registryEndpoint('docker.io'), 'registry-1.docker.io');
});
