# Generates tests/unit/text/jinja_cases.json: what Jinja2 (3.1.x) renders for each
# case, in the environment transformers uses for chat templates. The C test
# test_template_lang.c reproduces every case. Run: python3 gen_jinja_cases.py OUT.json

import json, sys, datetime
import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2 import nodes

class AssistantTracker(Extension):
    tags = {"generation"}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)
    def _render(self, caller):
        return caller()

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)
def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
def strftime_now(fmt):
    return datetime.datetime(2026,11,27).strftime(fmt)

def env():
    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = strftime_now
    return e

FAM = {}
def famtok(f):
    if f not in FAM:
        c = json.load(open('/work/wt-template/tests/fixtures/tokenizers/%s/tokenizer_config.json' % f))
        def g(k):
            v = c.get(k)
            if isinstance(v, dict): v = v['content']
            return v
        FAM[f] = (g('bos_token'), g('eos_token'))
    return FAM[f]

def render(src, ctx):
    return env().from_string(src).render(**ctx)

V = {"xs": [3, 1, 2], "d": {"b": 2, "a": 1}, "s": "  Hello World  ", "n": None, "t": True, "f": 1.5,
     "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "x": 1}, {"role": "user", "content": "bye"}],
     "u": "héllo wörld", "names": ["b", "A", "c", "a"]}
CASES = [
 # literals, output, arithmetic
 "{{ 1 }} {{ 1.0 }} {{ -2.5 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 0.1 + 0.2 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}",
 "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1, 2] + [3] }} {{ (1, 2) }} {{ (1,) }} {{ () }}",
 "{{ none }} {{ true }} {{ True }} {{ [1, 'a', none, true, 1.5, {'k': [1]}] }} {{ {'a': 'it\\'s', 'b': \"q\\\"\"} }}",
 "{{ 'a\\tb\\nc\\\\' }}|{{ \"\\u00e9\\x41\" }}|{{ 'x' 'y' }}",
 "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 'b' in 'abc' }} {{ 2 not in xs }} {{ 'a' in d }}",
 "{{ xs and 'y' }} {{ [] or 'z' }} {{ 0 or none }} {{ not xs }} {{ 'a' if t else 'b' }} {{ 'a' if n else 'b' }} [{{ 'a' if n }}]",
 # undefined
 "[{{ missing }}] {{ missing is defined }} {{ missing is undefined }} {{ missing | default('dflt') }} {{ '' | default('e', true) }} {{ missing|length }} {% for x in missing %}no{% endfor %}",
 "{{ d.missing is defined }} {{ d['a'] }} {{ d.a }} {{ d.get('b') }} {{ d.get('z', 9) }} {{ d.get('z') }} {{ msgs[1].x }} {{ msgs[-1].content }}",
 # tests
 "{{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ 's' is string }} {{ d is mapping }} {{ xs is iterable }} {{ 's' is iterable }} {{ n is iterable }} {{ xs is sequence }} {{ n is none }} {{ t is true }} {{ t is false }} {{ t is boolean }}",
 "{{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is equalto 2 }} {{ 'Ab' is lower }} {{ 'AB' is upper }} {{ 1 is in xs }} {{ n is not none }} {{ xs is sameas xs }}",
 # filters: strings
 "[{{ s|trim }}] [{{ 'xxhixx'|trim('x') }}] {{ s|upper }} {{ s|lower }} {{ 'hello wORLD-foo(bar'|title }} {{ 'hELLO'|capitalize }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }}",
 "{{ u|length }} {{ u|upper }} {{ u[1:4] }} {{ u[-3:] }} {{ u[::-1] }} {{ u[::2] }} {{ u[1] }} {{ xs[::-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[5:] }} {{ xs[-10:2] }}",
 "{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  x  '.strip() }}|{{ '--x--'.lstrip('-') }}|{{ '--x--'.rstrip('-') }}|{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }}",
 "{{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.rfind('b') }} {{ 'abcabc'.count('b') }} {{ 'Hello'.upper() }} {{ 'Hello'.lower() }} {{ 'hello world'.title() }} {{ '-'.join(['a', 'b']) }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{name}'.format('a', name='b') }}",
 "{{ 'line1\\nline2'|indent }}|{{ 'a\\n\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x'|center(5) }}|{{ 'one two  three'|wordcount }}",
 "{{ '<a href=\"x\">&\\'</a>'|escape }} {{ ('<b>'|safe) + '<i>' }} {{ '3'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int(7) }} {{ 3|float }} {{ '2.5'|float }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 2.1|round(0, 'ceil') }} {{ 1|string ~ 2 }}",
 # filters: sequences
 "{{ xs|length }} {{ xs|count }} {{ xs|first }} {{ xs|last }} {{ xs|sort }} {{ xs|sort(reverse=true) }} {{ names|sort }} {{ names|sort(case_sensitive=true) }} {{ xs|reverse|list }} {{ xs|sum }} {{ xs|min }} {{ xs|max }} {{ names|unique|list }}",
 "{{ xs|join(', ') }} {{ msgs|map(attribute='role')|join('/') }} {{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ msgs|rejectattr('role', '==', 'user')|list|length }} {{ xs|select('odd')|list }} {{ xs|reject('odd')|list }} {{ names|map('upper')|list }}",
 "{{ d|items|list }} {{ d|dictsort }} {{ d|dictsort(by='value', reverse=true) }} {{ d.items()|list }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.keys() }} {{ 'abc'|list }} {{ d|list }} {{ msgs|selectattr('x', 'defined')|list|length }} {{ [1,2,3,4,5]|batch(2)|list }}",
 # tojson
 "{{ d|tojson }} {{ msgs[1]|tojson }} {{ [1, 1.5, 1e20, none, true, 'é\\n\"'] | tojson }} {{ {'a': {'b': []}, 'c': {}}|tojson(indent=2) }} {{ 'é'|tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ (1, 2)|tojson }}",
 # statements
 "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.cycle('a', 'b') }}|{% endfor %}",
 "{% for x in xs %}{{ loop.previtem is defined }}{{ loop.nextitem|default('-') }}{% endfor %} {% for x in [] %}x{% else %}empty{% endfor %} {% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}",
 "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %} {% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}",
 "{% set x = 1 %}{% for i in xs %}{% set x = i %}{% endfor %}{{ x }} {% set ns = namespace(v=0, l=[]) %}{% for i in xs %}{% set ns.v = ns.v + i %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.v }} {{ ns.l }}",
 "{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set blk %}inner {{ 1 + 1 }}{% endset %}[{{ blk }}] {% filter upper %}shout {{ 'x' }}{% endfilter %} {% set y | trim %}  padded  {% endset %}[{{ y }}]",
 "{% macro greet(name, greeting='Hi') %}{{ greeting }} {{ name }}{% endmacro %}{{ greet('Bob') }}, {{ greet('Ann', greeting='Yo') }}, {{ greet(name='Z') }}",
 "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1)|int) }}{% endif %}{% endmacro %}{{ fact(5) }} {% macro v() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ v(1, 2, a=3) }}",
 "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %} {% macro two(a) %}[{{ caller(a) }}]{% endmacro %}{% call(x) two(5) %}got {{ x }}{% endcall %}",
 "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }} {% for i in range(3) %}{{ i }}{% endfor %}",
 "{% generation %}gen {{ 1 }}{% endgeneration %} {# comment #}x{% raw %}{{ not rendered }}{% endraw %}",
 # whitespace control with trim_blocks/lstrip_blocks
 "a\n  {% if true %}\n    b\n  {% endif %}\nc\n{{- ' d ' -}}\n  e  {%- if true %} f {% endif -%}  \ng\n{#- c -#}\n h\n    {%+ if true %}i{% endif +%}\nj",
 "line\n\n{% for x in xs %}\n  - {{ x }}\n{% endfor %}\nend\n",
 # strings share storage: appending to one must not change another
 "{% set a = 'x' + 'y' %}{% set b = a + 'Z' %}{% set c = a + 'W' %}{{ b }}{{ c }}{{ a }} {% set x = 'ab' + 'cdef' %}{% set y = x[:2] %}{{ y + 'Z' }}{{ x }} {% set ns = namespace(s='') %}{% for i in range(3) %}{% set ns.s = ns.s + i|string %}{% set t = ns.s + '!' %}{{ t }}{% endfor %}{{ ns.s }}",
 "{{ '%s-%d' % ('a', 3) }} {{ '%s' % [1, 2] }} {{ 'x%%y%r' % 'q' }} {{ '%s and %s'|format(1, none) }}",
 # errors
 "{{ raise_exception('custom failure') }}",
 "{{ missing.attr }}",
 "{{ 'a' + 1 }}",
 "{{ 1 + 'a' }}",
 "{{ [1] + 'a' }}",
 "{% for x in n %}{% endfor %}",
 "{{ xs|map(attribute='a')|tojson }}",
 "{{ xs|select|length }}",
 "{{ d.missing + 'x' }}",
 "{{ msgs[7].content }}",
 "{{ 1 / 0 }}",
 "{{ d.pop('a') }}",
 "{{ xs.append(4) }}",
 "{{ missing() }}",
 "{{ namespace() | tojson }}",
 "{% set d.x = 1 %}",
 "{{ n|length }}",
 "{{ 1 < 'a' }}",
 "{% for a, b in xs %}{% endfor %}",
 "{{ range(200000)|length }}",
 "{{ '%s %s' % (1,) }}",
 "{{ '%s' % (1, 2) }}",
]
out = []
for src in CASES:
    try:
        txt = render(src, dict(V)); out.append({"src": src, "text": txt})
    except Exception as e:
        out.append({"src": src, "error": str(e)})
json.dump({"vars": V, "cases": out}, open(sys.argv[1], 'w'), indent=1, ensure_ascii=False)

