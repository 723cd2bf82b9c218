/**
 * Notebook parameters, papermill style: the cell tagged `parameters` holds assignments such as
 * `alpha = 0.1; epochs: int = 10`. This module reads them into typed values and turns what the
 * user types in the submit dialog back into JSON values (pure, no JupyterLab imports).
 *
 * Values are sent to the server as JSON; the server writes them as literals of the kernel's
 * language. So a string parameter is typed WITHOUT quotes (a top complaint about
 * jupyter-scheduler is that strings had to be quoted by hand).
 */

/** JSON values a parameter can take. */
export type ParamValue =
  | null
  | boolean
  | number
  | string
  | ParamValue[]
  | { [key: string]: ParamValue };

/**
 * The kind of a parameter, which decides how the user's text is read:
 * `int`/`float` numbers, `bool` a checkbox, `str` raw text, `list`/`dict`/`none` a literal,
 * `expression` something we cannot evaluate (e.g. `np.arange(3)`), kept as the notebook has it.
 */
export type ParamType =
  'int' | 'float' | 'bool' | 'str' | 'none' | 'list' | 'dict' | 'expression';

/** One parameter found in the parameters cell. */
export interface IParameter {
  name: string;
  type: ParamType;
  /** The notebook's value; undefined for `expression`. */
  value?: ParamValue;
  /** The right-hand side exactly as written in the notebook. */
  source: string;
  /** The trailing `# comment`, if any (shown as help in the dialog). */
  comment: string;
}

/** A user's text for a parameter could not be read as the parameter's type. */
export class ParameterValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParameterValueError';
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Split Python source into top-level statements: on newlines and `;` outside brackets and
 * strings (so a list spanning lines stays one statement). Comments are kept with their statement.
 */
function splitStatements(source: string): string[] {
  const statements: string[] = [];
  let current = '';
  let depth = 0;
  let quote: string | null = null;
  let inComment = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (inComment) {
      if (ch === '\n') {
        inComment = false;
        if (depth === 0) {
          statements.push(current);
          current = '';
          continue;
        }
      }
      current += ch;
      continue;
    }
    if (quote) {
      current += ch;
      if (ch === '\\') {
        current += source[i + 1] ?? '';
        i++;
      } else if (source.startsWith(quote, i)) {
        current += quote.slice(1);
        i += quote.length - 1;
        quote = null;
      }
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = source.startsWith(ch.repeat(3), i) ? ch.repeat(3) : ch;
      current += quote;
      i += quote.length - 1;
      continue;
    }
    if (ch === '#') {
      inComment = true;
      current += ch;
      continue;
    }
    if ('([{'.includes(ch)) {
      depth++;
    } else if (')]}'.includes(ch)) {
      depth = Math.max(0, depth - 1);
    }
    if ((ch === '\n' || ch === ';') && depth === 0) {
      statements.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  statements.push(current);
  return statements;
}

/** Split `value  # comment` into its parts (a `#` inside a string is not a comment). */
function splitComment(text: string): [string, string] {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') {
        i++;
      } else if (ch === quote) {
        quote = null;
      }
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '#') {
      return [text.slice(0, i).trim(), text.slice(i + 1).trim()];
    }
  }
  return [text.trim(), ''];
}

/** Top-level `=` of an assignment (not `==`, `<=`, `>=`, `!=`), or -1. */
function assignmentIndex(statement: string): number {
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < statement.length; i++) {
    const ch = statement[i];
    if (quote) {
      if (ch === '\\') {
        i++;
      } else if (ch === quote) {
        quote = null;
      }
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
    } else if ('([{'.includes(ch)) {
      depth++;
    } else if (')]}'.includes(ch)) {
      depth--;
    } else if (ch === '#') {
      return -1;
    } else if (ch === '=' && depth === 0) {
      const prev = statement[i - 1] ?? '';
      const next = statement[i + 1] ?? '';
      if (next === '=' || '=<>!+-*/%&|^@:'.includes(prev)) {
        return -1;
      }
      return i;
    }
  }
  return -1;
}

/** A small reader for Python literals: numbers, strings, True/False/None, lists, tuples, dicts. */
class LiteralReader {
  private pos = 0;

  constructor(private readonly text: string) {}

  read(): ParamValue {
    const value = this.value();
    this.space();
    if (this.pos !== this.text.length) {
      throw new ParameterValueError(
        `unexpected "${this.text.slice(this.pos, this.pos + 10)}"`
      );
    }
    return value;
  }

  private space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) {
      this.pos++;
    }
  }

  private value(): ParamValue {
    this.space();
    const ch = this.text[this.pos];
    if (ch === undefined) {
      throw new ParameterValueError('a value is missing');
    }
    if (ch === '[' || ch === '(') {
      return this.sequence(ch === '[' ? ']' : ')');
    }
    if (ch === '{') {
      return this.mapping();
    }
    if (
      ch === '"' ||
      ch === "'" ||
      /^[rRbBuU]['"]/.test(this.text.slice(this.pos, this.pos + 2))
    ) {
      return this.string();
    }
    const word = /^(True|False|None|true|false|null)\b/.exec(
      this.text.slice(this.pos)
    );
    if (word) {
      this.pos += word[0].length;
      return word[0] === 'True' || word[0] === 'true'
        ? true
        : word[0] === 'False' || word[0] === 'false'
          ? false
          : null;
    }
    const number =
      /^[-+]?(?:\d[\d_]*\.?[\d_]*(?:[eE][-+]?\d+)?|\.\d[\d_]*(?:[eE][-+]?\d+)?|inf\b|nan\b)/.exec(
        this.text.slice(this.pos)
      );
    if (number && !/^[-+]?(inf|nan)/.test(number[0])) {
      this.pos += number[0].length;
      const parsed = Number(number[0].replace(/_/g, ''));
      if (!Number.isFinite(parsed)) {
        throw new ParameterValueError(`"${number[0]}" is not a finite number`);
      }
      return parsed;
    }
    throw new ParameterValueError(
      `"${this.text.slice(this.pos, this.pos + 20)}" is not a literal value`
    );
  }

  private sequence(close: string): ParamValue[] {
    this.pos++;
    const items: ParamValue[] = [];
    for (;;) {
      this.space();
      if (this.text[this.pos] === close) {
        this.pos++;
        return items;
      }
      items.push(this.value());
      this.space();
      if (this.text[this.pos] === ',') {
        this.pos++;
      } else if (this.text[this.pos] !== close) {
        throw new ParameterValueError(`expected "," or "${close}"`);
      }
    }
  }

  private mapping(): { [key: string]: ParamValue } {
    this.pos++;
    const result: { [key: string]: ParamValue } = {};
    for (;;) {
      this.space();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return result;
      }
      const key = this.value();
      if (typeof key !== 'string' && typeof key !== 'number') {
        throw new ParameterValueError(
          'dictionary keys must be strings or numbers'
        );
      }
      this.space();
      if (this.text[this.pos] !== ':') {
        throw new ParameterValueError('expected ":" in a dictionary');
      }
      this.pos++;
      result[String(key)] = this.value();
      this.space();
      if (this.text[this.pos] === ',') {
        this.pos++;
      } else if (this.text[this.pos] !== '}') {
        throw new ParameterValueError('expected "," or "}"');
      }
    }
  }

  private string(): string {
    let raw = false;
    while (/[rRbBuU]/.test(this.text[this.pos])) {
      raw = raw || /[rR]/.test(this.text[this.pos]);
      this.pos++;
    }
    const ch = this.text[this.pos];
    const quote = this.text.startsWith(ch.repeat(3), this.pos)
      ? ch.repeat(3)
      : ch;
    this.pos += quote.length;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) {
        throw new ParameterValueError('a string is not closed');
      }
      if (this.text.startsWith(quote, this.pos)) {
        this.pos += quote.length;
        return out;
      }
      const c = this.text[this.pos];
      if (c === '\\' && !raw) {
        const next = this.text[this.pos + 1];
        const escapes: { [key: string]: string } = {
          n: '\n',
          t: '\t',
          r: '\r',
          '0': '\0',
          '\\': '\\',
          "'": "'",
          '"': '"'
        };
        if (next === 'u' || next === 'x') {
          const len = next === 'u' ? 4 : 2;
          const hex = this.text.slice(this.pos + 2, this.pos + 2 + len);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) {
            throw new ParameterValueError('bad escape in a string');
          }
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 2 + len;
          continue;
        }
        out += next in escapes ? escapes[next] : '\\' + next;
        this.pos += 2;
        continue;
      }
      out += c;
      this.pos++;
    }
  }
}

/** Read a Python (or JSON) literal; throws ParameterValueError when it is not one. */
export function parseLiteral(text: string): ParamValue {
  return new LiteralReader(text).read();
}

/** The parameter type of a JSON value. */
export function typeOfValue(value: ParamValue): ParamType {
  if (value === null) {
    return 'none';
  }
  if (typeof value === 'boolean') {
    return 'bool';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? 'int' : 'float';
  }
  if (typeof value === 'string') {
    return 'str';
  }
  return Array.isArray(value) ? 'list' : 'dict';
}

/** Whether a numeric literal in the notebook is written as a float (`1.0`, `1e-3`). */
function writtenAsFloat(source: string): boolean {
  return (
    /^[-+]?(\d[\d_]*)?\.|[eE]/.test(source.trim()) &&
    !/^[-+]?0[xob]/i.test(source.trim())
  );
}

/** Parse the source of a `parameters` cell into its parameters, in order (last wins on repeats). */
export function parseParametersCell(source: string): IParameter[] {
  const found = new Map<string, IParameter>();
  for (const statement of splitStatements(source)) {
    const index = assignmentIndex(statement);
    if (index < 0) {
      continue;
    }
    let target = statement.slice(0, index).trim();
    let annotation = '';
    const colon = target.indexOf(':');
    if (colon >= 0) {
      annotation = target.slice(colon + 1).trim();
      target = target.slice(0, colon).trim();
    }
    if (!IDENTIFIER.test(target)) {
      continue; // tuple unpacking, attribute or item assignment: not a parameter
    }
    const [rhs, comment] = splitComment(statement.slice(index + 1));
    if (!rhs) {
      continue;
    }
    let parameter: IParameter;
    try {
      const value = parseLiteral(rhs);
      let type = typeOfValue(value);
      if (type === 'int' && (writtenAsFloat(rhs) || annotation === 'float')) {
        type = 'float';
      }
      parameter = { name: target, type, value, source: rhs, comment };
    } catch {
      parameter = { name: target, type: 'expression', source: rhs, comment };
    }
    found.delete(target);
    found.set(target, parameter);
  }
  return [...found.values()];
}

/** The notebook's value of a parameter as the dialog shows it (strings without quotes). */
export function displayValue(parameter: IParameter): string {
  const value = parameter.value;
  switch (parameter.type) {
    case 'str':
      return value as string;
    case 'bool':
      return value ? 'True' : 'False';
    case 'int':
    case 'float':
      return parameter.source.replace(/_/g, '');
    default:
      return parameter.source;
  }
}

/**
 * Read what the user typed for a parameter as that parameter's type.
 * Throws ParameterValueError with a message that says what to type instead.
 */
export function readValue(parameter: IParameter, text: string): ParamValue {
  const trimmed = text.trim();
  switch (parameter.type) {
    case 'str':
      return text;
    case 'int': {
      if (!/^[-+]?\d[\d_]*$/.test(trimmed)) {
        throw new ParameterValueError(
          `${parameter.name} must be a whole number, e.g. ${parameter.source}`
        );
      }
      const value = Number(trimmed.replace(/_/g, ''));
      if (!Number.isSafeInteger(value)) {
        throw new ParameterValueError(`${parameter.name} is too large`);
      }
      return value;
    }
    case 'float': {
      const value = Number(trimmed.replace(/_/g, ''));
      if (trimmed === '' || !Number.isFinite(value)) {
        throw new ParameterValueError(
          `${parameter.name} must be a number, e.g. ${parameter.source}`
        );
      }
      return value;
    }
    case 'bool': {
      const lowered = trimmed.toLowerCase();
      if (lowered === 'true' || lowered === '1') {
        return true;
      }
      if (lowered === 'false' || lowered === '0') {
        return false;
      }
      throw new ParameterValueError(`${parameter.name} must be True or False`);
    }
    default: {
      if (trimmed === '') {
        throw new ParameterValueError(
          `${parameter.name} needs a value (a number, a quoted string, True/False/None, a list or a dict)`
        );
      }
      try {
        const value = parseLiteral(trimmed);
        if (parameter.type === 'list' && !Array.isArray(value)) {
          throw new ParameterValueError('a list is expected, e.g. [1, 2, 3]');
        }
        if (
          parameter.type === 'dict' &&
          (value === null || typeof value !== 'object' || Array.isArray(value))
        ) {
          throw new ParameterValueError('a dict is expected, e.g. {"a": 1}');
        }
        return value;
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new ParameterValueError(`${parameter.name}: ${reason}`);
      }
    }
  }
}

/** Deep equality of JSON values (to send only the parameters the user changed). */
export function sameValue(
  a: ParamValue | undefined,
  b: ParamValue | undefined
): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The parameters to send: values the user changed (or set for `expression` parameters),
 * keyed by name. Throws ParameterValueError listing every field that cannot be read.
 */
export function collectParameters(
  parameters: IParameter[],
  texts: { [name: string]: string }
): { [name: string]: ParamValue } {
  const result: { [name: string]: ParamValue } = {};
  const problems: string[] = [];
  for (const parameter of parameters) {
    const text = texts[parameter.name];
    if (text === undefined) {
      continue;
    }
    if (
      parameter.type === 'expression' &&
      text.trim() === parameter.source.trim()
    ) {
      continue; // untouched: the notebook's own expression runs as written
    }
    try {
      const value = readValue(parameter, text);
      if (
        parameter.type === 'expression' ||
        !sameValue(value, parameter.value)
      ) {
        result[parameter.name] = value;
      }
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (problems.length) {
    throw new ParameterValueError(problems.join('\n'));
  }
  return result;
}

/** Cell shape we need from a notebook (nbformat or the live model's JSON). */
export interface ICellLike {
  cell_type: string;
  source: string | string[];
  metadata?: { tags?: unknown };
}

/** Find the first code cell tagged `parameters` and parse it; [] when there is none. */
export function findParameters(cells: ICellLike[]): IParameter[] {
  for (const cell of cells) {
    const tags = cell.metadata?.tags;
    if (
      cell.cell_type === 'code' &&
      Array.isArray(tags) &&
      tags.includes('parameters')
    ) {
      const source = Array.isArray(cell.source)
        ? cell.source.join('')
        : cell.source;
      return parseParametersCell(source);
    }
  }
  return [];
}

/**
 * Parse a duration typed by the user: seconds ("90"), or with a unit ("30s", "15m", "2h", "1d",
 * also "1h30m"). Empty text gives null (no limit). Throws ParameterValueError otherwise.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') {
    return null;
  }
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const seconds = Number(trimmed);
    if (seconds <= 0) {
      throw new ParameterValueError('must be more than 0 seconds');
    }
    return seconds;
  }
  const units: { [unit: string]: number } = { s: 1, m: 60, h: 3600, d: 86400 };
  const parts = trimmed.replace(/\s+/g, '').match(/(\d+(?:\.\d+)?)([smhd])/g);
  if (!parts || parts.join('') !== trimmed.replace(/\s+/g, '')) {
    throw new ParameterValueError(
      `"${text.trim()}" is not a duration: use seconds or e.g. 30m, 2h, 1d`
    );
  }
  let seconds = 0;
  for (const part of parts) {
    const unit = part[part.length - 1];
    seconds += Number(part.slice(0, -1)) * units[unit];
  }
  if (seconds <= 0) {
    throw new ParameterValueError('must be more than 0 seconds');
  }
  return seconds;
}
