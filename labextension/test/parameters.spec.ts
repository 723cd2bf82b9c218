import {
  collectParameters,
  displayValue,
  findParameters,
  IParameter,
  parseDuration,
  parseLiteral,
  parseParametersCell,
  ParameterValueError,
  readValue
} from '../src/core/parameters';

function byName(params: IParameter[]): { [name: string]: IParameter } {
  return Object.fromEntries(params.map(p => [p.name, p]));
}

describe('parseParametersCell', () => {
  it("reads PrimeHub's one-line example", () => {
    const params = parseParametersCell('alpha = 0.1; ratio = 0.1');
    expect(params.map(p => [p.name, p.type, p.value])).toEqual([
      ['alpha', 'float', 0.1],
      ['ratio', 'float', 0.1]
    ]);
  });

  it('types every kind of literal', () => {
    const params = byName(
      parseParametersCell(
        [
          'epochs = 10',
          'lr = 1e-3',
          'scale = 2.0',
          "name = 'mnist'  # dataset name",
          'label = "a # not a comment"',
          'debug = False',
          'seed = None',
          'layers = [64, 32,',
          '          16]',
          'opts = {\'a\': 1, "b": [True, None]}',
          'coords = (1, 2)',
          'grid = np.arange(3)',
          'typed: float = 1',
          'big = 1_000'
        ].join('\n')
      )
    );
    expect(params.epochs).toMatchObject({ type: 'int', value: 10 });
    expect(params.lr).toMatchObject({ type: 'float', value: 0.001 });
    expect(params.scale).toMatchObject({ type: 'float', value: 2 });
    expect(params.name).toMatchObject({
      type: 'str',
      value: 'mnist',
      comment: 'dataset name'
    });
    expect(params.label).toMatchObject({
      type: 'str',
      value: 'a # not a comment'
    });
    expect(params.debug).toMatchObject({ type: 'bool', value: false });
    expect(params.seed).toMatchObject({ type: 'none', value: null });
    expect(params.layers).toMatchObject({ type: 'list', value: [64, 32, 16] });
    expect(params.opts).toMatchObject({
      type: 'dict',
      value: { a: 1, b: [true, null] }
    });
    expect(params.coords).toMatchObject({ type: 'list', value: [1, 2] });
    expect(params.grid).toMatchObject({
      type: 'expression',
      source: 'np.arange(3)'
    });
    expect(params.grid.value).toBeUndefined();
    expect(params.typed).toMatchObject({ type: 'float', value: 1 });
    expect(params.big).toMatchObject({ type: 'int', value: 1000 });
  });

  it('skips what is not a simple assignment', () => {
    const params = parseParametersCell(
      [
        '# a comment = 3',
        'import os',
        'a, b = 1, 2',
        'x.y = 3',
        'z += 1',
        'if n == 3: pass',
        'print("k = 1")',
        'kept = 1'
      ].join('\n')
    );
    expect(params.map(p => p.name)).toEqual(['kept']);
  });

  it('keeps the last assignment of a repeated name', () => {
    const params = parseParametersCell('a = 1\nb = 2\na = 3');
    expect(params.map(p => [p.name, p.value])).toEqual([
      ['b', 2],
      ['a', 3]
    ]);
  });

  it('reads string escapes and triple quotes', () => {
    expect(parseLiteral("'it\\'s'")).toBe("it's");
    expect(parseLiteral('"tab\\there"')).toBe('tab\there');
    expect(parseLiteral("r'C:\\path'")).toBe('C:\\path');
    const params = parseParametersCell('text = """two\nlines"""\nafter = 1');
    expect(params.map(p => [p.name, p.value])).toEqual([
      ['text', 'two\nlines'],
      ['after', 1]
    ]);
  });
});

describe('findParameters', () => {
  it('uses the first code cell tagged parameters', () => {
    const cells = [
      {
        cell_type: 'markdown',
        source: 'x = 1',
        metadata: { tags: ['parameters'] }
      },
      { cell_type: 'code', source: 'import os', metadata: {} },
      {
        cell_type: 'code',
        source: ['a = 1\n', 'b = "s"'],
        metadata: { tags: ['parameters'] }
      },
      { cell_type: 'code', source: 'c = 3', metadata: { tags: ['parameters'] } }
    ];
    expect(findParameters(cells).map(p => p.name)).toEqual(['a', 'b']);
  });

  it('is empty without a parameters cell', () => {
    expect(findParameters([{ cell_type: 'code', source: 'a = 1' }])).toEqual(
      []
    );
  });
});

describe('readValue', () => {
  const [intP, floatP, strP, boolP, listP, exprP, noneP] = parseParametersCell(
    'n = 3\nx = 0.5\ns = "hi"\nb = True\nl = [1]\ne = f(1)\nz = None'
  );

  it('reads numbers by type', () => {
    expect(readValue(intP, ' 42 ')).toBe(42);
    expect(readValue(floatP, '2')).toBe(2);
    expect(readValue(floatP, '-1.5e2')).toBe(-150);
  });

  it('refuses what is not the type, saying what to type', () => {
    expect(() => readValue(intP, '4.5')).toThrow(
      'n must be a whole number, e.g. 3'
    );
    expect(() => readValue(intP, '')).toThrow(ParameterValueError);
    expect(() => readValue(floatP, 'abc')).toThrow(
      'x must be a number, e.g. 0.5'
    );
    expect(() => readValue(boolP, 'maybe')).toThrow('b must be True or False');
    expect(() => readValue(listP, '{"a": 1}')).toThrow('a list is expected');
    expect(() => readValue(exprP, '')).toThrow('e needs a value');
    expect(() => readValue(noneP, 'oops(')).toThrow(ParameterValueError);
  });

  it('takes strings as typed, without quotes', () => {
    expect(readValue(strP, 'hello world')).toBe('hello world');
    expect(readValue(strP, "it's")).toBe("it's");
  });

  it('reads booleans, literals and None', () => {
    expect(readValue(boolP, 'false')).toBe(false);
    expect(readValue(listP, '[1, "a", None]')).toEqual([1, 'a', null]);
    expect(readValue(noneP, 'None')).toBeNull();
    expect(readValue(noneP, '"now a string"')).toBe('now a string');
  });

  it('shows notebook values the way they are typed back', () => {
    expect(displayValue(strP)).toBe('hi');
    expect(displayValue(boolP)).toBe('True');
    expect(displayValue(floatP)).toBe('0.5');
    expect(displayValue(listP)).toBe('[1]');
  });
});

describe('collectParameters', () => {
  const params = parseParametersCell(
    'alpha = 0.1\nname = "a"\nsteps = 5\ngrid = f()'
  );

  it('sends only what changed', () => {
    expect(
      collectParameters(params, {
        alpha: '0.1',
        name: 'b',
        steps: '5',
        grid: 'f()'
      })
    ).toEqual({ name: 'b' });
  });

  it('sends a replaced expression as a literal', () => {
    expect(collectParameters(params, { grid: '[1, 2]' })).toEqual({
      grid: [1, 2]
    });
  });

  it('lists every invalid field at once', () => {
    expect(() =>
      collectParameters(params, { alpha: 'x', steps: '1.5' })
    ).toThrow(
      'alpha must be a number, e.g. 0.1\nsteps must be a whole number, e.g. 5'
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['', null],
    ['90', 90],
    ['30s', 30],
    ['15m', 900],
    ['2h', 7200],
    ['1d', 86400],
    ['1h 30m', 5400]
  ])('reads %p as %p seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it('refuses what is not a duration', () => {
    expect(() => parseDuration('soon')).toThrow('is not a duration');
    expect(() => parseDuration('0')).toThrow('more than 0');
    expect(() => parseDuration('5x')).toThrow(ParameterValueError);
  });
});
