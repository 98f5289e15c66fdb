import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AirlockError,
  AuthenticationError,
  ConnectionError,
  errorFromBody,
  ExecFailedError,
  InvalidRequestError,
  InvalidStateError,
  NotFoundError,
} from './errors.js';

describe('errorFromBody', { timeout: 60_000 }, () => {
  it('builds the subclass for each code callers branch on', () => {
    const cases = [
      [404, 'not_found', NotFoundError],
      [400, 'invalid_request', InvalidRequestError],
      [409, 'invalid_state', InvalidStateError],
      [422, 'exec_failed', ExecFailedError],
      [401, 'unauthenticated', AuthenticationError],
    ] as const;
    for (const [status, code, ctor] of cases) {
      const error = errorFromBody(status, { code, message: 'm' });
      assert.ok(error instanceof ctor, code);
      assert.ok(error instanceof AirlockError);
      assert.ok(error instanceof Error);
      assert.equal(error.code, code);
      assert.equal(error.status, status);
      assert.equal(error.message, 'm');
    }
  });

  it('keeps other known codes on the base class', () => {
    const error = errorFromBody(429, { code: 'capacity', message: 'full' });
    assert.equal(error.constructor, AirlockError);
    assert.equal(error.code, 'capacity');
    assert.ok(!(error instanceof NotFoundError));
  });

  it('maps an unknown code or a non-object body to internal', () => {
    const unknown = errorFromBody(500, { code: 'brand_new', message: 'x' });
    assert.equal(unknown.code, 'internal');
    assert.equal(unknown.message, 'x');
    const junk = errorFromBody(502, 'Bad Gateway');
    assert.equal(junk.code, 'internal');
    assert.equal(junk.status, 502);
    assert.match(junk.message, /HTTP 502/);
  });

  it('carries validation issues', () => {
    const error = errorFromBody(400, {
      code: 'invalid_request',
      message: 'bad',
      issues: [{ path: 'memoryMiB', message: 'too small' }],
    });
    assert.deepEqual(error.issues, [{ path: 'memoryMiB', message: 'too small' }]);
  });
});

describe('instanceof', { timeout: 60_000 }, () => {
  it('does not confuse sibling classes', () => {
    assert.ok(!(new NotFoundError('x') instanceof InvalidStateError));
    assert.ok(!(new ConnectionError('x') instanceof NotFoundError));
    assert.ok(!(new Error('x') instanceof AirlockError));
    assert.ok(!((null as unknown) instanceof AirlockError));
  });

  it('works across two loaded copies of the module', async () => {
    const copy = (await import(`./errors.js?copy=${Date.now()}`)) as typeof import('./errors.js');
    assert.notEqual(copy.AirlockError, AirlockError);
    const theirs = new copy.NotFoundError('gone');
    assert.ok(theirs instanceof NotFoundError);
    assert.ok(theirs instanceof AirlockError);
    assert.ok(!(theirs instanceof ExecFailedError));
    assert.ok(new ConnectionError('x') instanceof copy.ConnectionError);
  });

  it('carries the tenancy codes and Retry-After', () => {
    const e = errorFromBody(429, { code: 'rate_limited', message: 'slow down' }, 3);
    assert.deepEqual([e.code, e.status, e.retryAfterSeconds], ['rate_limited', 429, 3]);
    assert.equal(errorFromBody(429, { code: 'quota_exceeded', message: 'q' }).code, 'quota_exceeded');
    assert.equal(errorFromBody(403, { code: 'permission_denied', message: 'p' }).code, 'permission_denied');
    assert.equal(errorFromBody(403, { code: 'quota_limit', message: 'p' }).retryAfterSeconds, undefined);
  });
});
