/**
 * Unit tests of the Dockerfile parser: lexing (directives, continuations, comments, heredocs), word
 * rules and variable forms, each instruction's typed form, and the errors that name a line.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DockerfileError, parseDockerfile, stageNamed } from './dockerfile.js';
import { lexDockerfile } from './dockerfile-lexer.js';
import { typeInstruction, type Instruction } from './dockerfile-instructions.js';
import { expandWord, expandWords } from './dockerfile-words.js';

const env = (vars: Record<string, string>) => (k: string) => vars[k];
const w = (s: string, vars: Record<string, string> = {}) => expandWord(s, env(vars), { escape: '\\', line: 1 });
const one = (text: string, vars: Record<string, string> = {}): Instruction => {
  const { escape, instructions } = lexDockerfile(text);
  return typeInstruction(instructions[0]!, env(vars), { escape });
};
const lineOf = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof DockerfileError, String(e));
    return e.line;
  }
  assert.fail('expected a DockerfileError');
};

describe('dockerfile parser', { timeout: 10_000 }, () => {
  test('continuations, comments inside them, empty lines and keyword lines', () => {
    const { instructions } = lexDockerfile('FROM scratch\n\n# a comment\nRUN echo a \\\n# inside\n\n    b \\\n  c\nrun true\n');
    assert.deepEqual(
      instructions.map((i) => [i.keyword, i.args, i.line]),
      [
        ['FROM', 'scratch', 1],
        ['RUN', 'echo a     b   c', 4],
        ['RUN', 'true', 9],
      ],
    );
  });

  test('the escape directive switches to backtick; directives end at the first other line', () => {
    const { escape, instructions } = lexDockerfile('# escape=`\nFROM x\nRUN dir c:\\ `\n  d\n');
    assert.equal(escape, '`');
    assert.equal(instructions[1]!.args, 'dir c:\\   d');
    assert.equal(lexDockerfile('# comment\n# escape=`\nFROM x').escape, '\\');
    assert.equal(
      lineOf(() => lexDockerfile('# escape=x\nFROM a')),
      1,
    );
    assert.equal(
      lineOf(() => lexDockerfile('# escape=`\n# escape=\\\nFROM a')),
      2,
    );
  });

  test('heredocs: script form, stdin form, <<- and quoted words', () => {
    const df = 'FROM x\nRUN <<EOF\necho one\necho two\nEOF\nRUN python3 <<-"PY"\n\tprint(1)\n\tPY\nCOPY <<A <<B /dst/\na\nA\nb\nB\n';
    const { instructions, escape } = lexDockerfile(df);
    const run1 = typeInstruction(instructions[1]!, () => undefined, { escape });
    assert.deepEqual(run1.kind === 'RUN' && run1.command, { form: 'shell', text: 'echo one\necho two\n' });
    const run2 = typeInstruction(instructions[2]!, () => undefined, { escape });
    assert.deepEqual(run2.kind === 'RUN' && run2.command, { form: 'shell', text: 'python3 <<-"PY"\nprint(1)\nPY\n' });
    assert.equal(instructions[2]!.heredocs[0]!.expand, false);
    const copy = typeInstruction(instructions[3]!, () => undefined, { escape });
    assert.ok(copy.kind === 'COPY');
    assert.deepEqual(copy.sources, []);
    assert.deepEqual(
      copy.heredocs.map((h) => [h.name, h.content]),
      [
        ['A', 'a\n'],
        ['B', 'b\n'],
      ],
    );
    assert.equal(copy.dest, '/dst/');
    assert.equal(
      lineOf(() => lexDockerfile('FROM x\nRUN <<EOF\nnever ends\n')),
      2,
    );
  });

  test('words: quotes, escapes and every variable form', () => {
    const vars = { A: 'alpha', E: '', P: '/usr/bin' };
    assert.equal(w('$A-${A}_"$A"', vars), 'alpha-alpha_alpha');
    assert.equal(w("'$A' \\$A", vars), '$A $A');
    assert.equal(w('${NOPE:-dflt} ${E:-empty} ${E-set} ${A:+alt} ${NOPE:+alt}', vars), 'dflt empty  alt ');
    assert.equal(w('${NOPE:-${P}/x}', vars), '/usr/bin/x');
    assert.equal(w('cost $5 and $', vars), 'cost  and $');
    assert.deepEqual(expandWords('a "b c" d\\ e  ', env({}), { escape: '\\', line: 1 }), ['a', 'b c', 'd e']);
    assert.throws(() => w('${A:?must be set}', {}), /A is required: must be set/);
    assert.throws(() => w('${A/x/y}', vars), /unsupported variable form/);
    assert.throws(() => w('"open', vars), /unterminated double quote/);
  });

  test('FROM with AS, stage lookup by name and index, --platform refused', () => {
    const df = parseDockerfile('ARG BASE=debian\nFROM $BASE AS Build\nRUN make\nFROM scratch\nCOPY --from=build /out /\n');
    assert.equal(df.metaArgs.length, 1);
    assert.deepEqual(
      df.stages.map((s) => s.name),
      ['build', undefined],
    );
    assert.equal(stageNamed(df, 'BUILD', 1)?.index, 0);
    assert.equal(stageNamed(df, '0', 1)?.index, 0);
    assert.equal(stageNamed(df, 'python:3', 1), undefined);
    const from = one('FROM $B as x', { B: 'debian:12' });
    assert.deepEqual(from, { kind: 'FROM', line: 1, image: 'debian:12', alias: 'x' });
    assert.throws(() => one('FROM --platform=linux/arm64 x'), /FROM --platform is not supported: Airlock builds for the host platform only/);
    assert.equal(
      lineOf(() => parseDockerfile('FROM a AS x\nFROM b AS x')),
      2,
    );
  });

  test('RUN, CMD, ENTRYPOINT in exec and shell form; SHELL must be JSON', () => {
    assert.deepEqual(one('RUN ["echo", "a b"]'), { kind: 'RUN', line: 1, command: { form: 'exec', argv: ['echo', 'a b'] }, text: '["echo", "a b"]' });
    assert.deepEqual(one('RUN echo $HOME'), { kind: 'RUN', line: 1, command: { form: 'shell', text: 'echo $HOME' }, text: 'echo $HOME' });
    assert.deepEqual(one('CMD [not json'), { kind: 'CMD', line: 1, command: { form: 'shell', text: '[not json' } });
    assert.deepEqual(one('ENTRYPOINT ["/bin/tini", "--"]'), { kind: 'ENTRYPOINT', line: 1, command: { form: 'exec', argv: ['/bin/tini', '--'] } });
    assert.deepEqual(one('SHELL ["/bin/bash", "-eo", "pipefail", "-c"]'), { kind: 'SHELL', line: 1, shell: ['/bin/bash', '-eo', 'pipefail', '-c'] });
    assert.throws(() => one('SHELL /bin/bash -c'), /SHELL must be a JSON array/);
    assert.throws(() => one('RUN --mount=type=cache,target=/x make'), /RUN --mount is not supported/);
  });

  test('ENV, ARG and LABEL forms with substitution', () => {
    assert.deepEqual(one('ENV A=1 B="two words" C=${X:-d}'), {
      kind: 'ENV',
      line: 1,
      pairs: [
        ['A', '1'],
        ['B', 'two words'],
        ['C', 'd'],
      ],
    });
    const p = one('ENV PATH $P:/x y', { P: '/bin' });
    assert.deepEqual(p, { kind: 'ENV', line: 1, pairs: [['PATH', '/bin:/x y']] });
    assert.deepEqual(one('ARG A B=2 C=${B}x', { B: 'b' }), {
      kind: 'ARG',
      line: 1,
      args: [
        { name: 'A', value: undefined },
        { name: 'B', value: '2' },
        { name: 'C', value: 'bx' },
      ],
    });
    assert.deepEqual(one('LABEL "com.x.y"="a b" v=1'), {
      kind: 'LABEL',
      line: 1,
      pairs: [
        ['com.x.y', 'a b'],
        ['v', '1'],
      ],
    });
    assert.throws(() => one('ARG 1bad'), /not a valid name/);
  });

  test('COPY and ADD: flags, JSON form, substitution; unsupported flags named', () => {
    const c = one('COPY --from=build --chown=app:app --chmod=0640 a "b c" $D/', { D: '/dst' });
    assert.deepEqual(c, { kind: 'COPY', line: 1, from: 'build', chown: 'app:app', chmod: 0o640, sources: ['a', 'b c'], dest: '/dst/', heredocs: [] });
    const j = one('ADD ["x y.tar", "/opt/"]');
    assert.ok(j.kind === 'ADD');
    assert.deepEqual([j.sources, j.dest], [['x y.tar'], '/opt/']);
    assert.throws(() => one('ADD --from=x a b'), /ADD --from is not supported/);
    assert.throws(() => one('COPY --chmod=u+x a b'), /must be an octal mode/);
    assert.throws(() => one('COPY onlyone'), /needs at least one source and a destination/);
  });

  test('WORKDIR, USER, EXPOSE', () => {
    assert.deepEqual(one('WORKDIR $H/app', { H: '/home/u' }), { kind: 'WORKDIR', line: 1, path: '/home/u/app' });
    assert.deepEqual(one('USER ${U:-1000}:1000'), { kind: 'USER', line: 1, user: '1000:1000' });
    assert.deepEqual(one('EXPOSE 80 53/UDP 8000-8010'), { kind: 'EXPOSE', line: 1, ports: ['80/tcp', '53/udp', '8000-8010/tcp'] });
    assert.throws(() => one('EXPOSE http'), /is not a port/);
  });

  test('an unsupported instruction is named with its line', () => {
    assert.throws(
      () => parseDockerfile('FROM debian\nRUN true\n\nHEALTHCHECK CMD true\n'),
      (err: unknown) => {
        assert.ok(err instanceof DockerfileError);
        assert.equal(err.line, 4);
        assert.match(err.message, /^Dockerfile line 4: HEALTHCHECK is not supported by Airlock's builder/);
        return true;
      },
    );
    assert.equal(
      lineOf(() => parseDockerfile('RUN true\nFROM x')),
      1,
      'an instruction before FROM',
    );
    assert.throws(() => parseDockerfile('# only a comment\n'), /no FROM instruction/);
  });
});
