/**
 * @module image-recipe
 * A small fluent way to describe an image in code; it renders a Dockerfile, which the server
 * builds like any other:
 *
 * ```ts
 * const recipe = Image.from('debian:12')
 *   .aptInstall(['python3', 'python3-numpy'])
 *   .run('python3 -c "import numpy"')
 *   .copy('app.py', '/app/')
 *   .env({ MODE: 'prod' })
 *   .workdir('/app')
 *   .cmd(['python3', 'app.py']);
 * await airlock.images.build({ dockerfile: recipe, context: '.', tags: ['team/app:1'] });
 * ```
 *
 * Every value is quoted for the Dockerfile (exec and JSON forms where a list is meant), so a value
 * with spaces, quotes or `$` reaches the image as written.
 */

export class Image {
  readonly #lines: string[];

  private constructor(lines: string[]) {
    this.#lines = lines;
  }

  /** The base: an image reference, or `scratch`. */
  static from(base: string, opts: { as?: string } = {}): Image {
    return new Image([`FROM ${base}${opts.as ? ` AS ${opts.as}` : ''}`]);
  }

  /** Installs Debian/Ubuntu packages (the build must be allowed to reach the mirror). */
  aptInstall(packages: string[]): Image {
    const list = packages.map(shellQuote).join(' ');
    return this.run(`apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${list} && rm -rf /var/lib/apt/lists/*`);
  }

  /** Installs Python packages with pip (the build must be allowed to reach the index). */
  pipInstall(packages: string[]): Image {
    return this.run(`python3 -m pip install --no-cache-dir ${packages.map(shellQuote).join(' ')}`);
  }

  /** A shell command (a string) or a command without a shell (an argv). */
  run(command: string | string[]): Image {
    return this.#add(`RUN ${typeof command === 'string' ? continued(command) : JSON.stringify(command)}`);
  }

  /** Copies from the build context (or from a stage with `from`). */
  copy(src: string | string[], dest: string, opts: { from?: string; chown?: string; chmod?: string } = {}): Image {
    const flags = [opts.from && `--from=${opts.from}`, opts.chown && `--chown=${opts.chown}`, opts.chmod && `--chmod=${opts.chmod}`].filter(Boolean).join(' ');
    return this.#add(`COPY ${flags ? `${flags} ` : ''}${JSON.stringify([...(Array.isArray(src) ? src : [src]), dest])}`);
  }

  env(vars: Record<string, string>): Image {
    return this.#add(
      `ENV ${Object.entries(vars)
        .map(([k, v]) => `${name(k)}=${dockerQuote(v)}`)
        .join(' ')}`,
    );
  }

  label(labels: Record<string, string>): Image {
    return this.#add(
      `LABEL ${Object.entries(labels)
        .map(([k, v]) => `${dockerQuote(k)}=${dockerQuote(v)}`)
        .join(' ')}`,
    );
  }

  arg(argName: string, defaultValue?: string): Image {
    return this.#add(`ARG ${name(argName)}${defaultValue === undefined ? '' : `=${dockerQuote(defaultValue)}`}`);
  }

  workdir(path: string): Image {
    return this.#add(`WORKDIR ${dockerQuote(path)}`);
  }

  user(user: string): Image {
    return this.#add(`USER ${dockerQuote(user)}`);
  }

  expose(...ports: (number | string)[]): Image {
    return this.#add(`EXPOSE ${ports.join(' ')}`);
  }

  cmd(argv: string[]): Image {
    return this.#add(`CMD ${JSON.stringify(argv)}`);
  }

  entrypoint(argv: string[]): Image {
    return this.#add(`ENTRYPOINT ${JSON.stringify(argv)}`);
  }

  /** Another stage after this one (multi-stage builds). */
  stage(base: string, opts: { as?: string } = {}): Image {
    return this.#add(`FROM ${base}${opts.as ? ` AS ${opts.as}` : ''}`);
  }

  toDockerfile(): string {
    return `${this.#lines.join('\n')}\n`;
  }

  #add(line: string): Image {
    return new Image([...this.#lines, line]);
  }
}

function name(k: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new TypeError(`${JSON.stringify(k)} is not a variable name`);
  return k;
}

/** A Dockerfile word in double quotes: `\`, `"` and `$` escaped, so nothing is expanded. */
function dockerQuote(v: string): string {
  if (v.includes('\n')) throw new TypeError('a Dockerfile value cannot hold a newline');
  return `"${v.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

function shellQuote(v: string): string {
  return /^[A-Za-z0-9_.+:=/-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** A multi-line shell command as a heredoc script (quoted: the Dockerfile expands nothing in it). */
function continued(command: string): string {
  if (!command.includes('\n')) return command;
  if (command.split('\n').includes('AIRLOCK_SCRIPT')) throw new TypeError('a RUN script cannot contain the line AIRLOCK_SCRIPT');
  return `<<'AIRLOCK_SCRIPT'\n${command.replace(/\n$/, '')}\nAIRLOCK_SCRIPT`;
}
