/**
 * A model's Jinja chat template (tokenizer_config.json), parsed by @huggingface/jinja and run
 * under bounds: a template comes with a model folder from anywhere, and one that loops a billion
 * times, or doubles a string thirty times, must end with a named error in a moment rather than
 * hang or exhaust the page. The interpreter counts the nodes it evaluates and checks the size of
 * every string and list they make; `range` counts the items it makes over the whole render (a
 * loop with an empty body evaluates nothing, so only its range can bound it). Within the bounds
 * a template renders exactly as @huggingface/jinja renders it (the same globals: range,
 * strftime_now, raise_exception).
 */

import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { ChatTemplateError } from '../errors';

/** Nodes a render may evaluate: real templates take a few thousand per message. */
const MAX_STEPS = 2_000_000;
/** Characters of any string a template makes, and items of any list. */
const MAX_CHARS = 16 << 20;
const MAX_ITEMS = 1 << 20;
/**
 * Items all of a render's ranges may make: real templates range over messages or tools (a few
 * thousand at most). Each item is an iteration the interpreter pays for even with an empty body,
 * so this bound, not MAX_STEPS, is what ends nested empty loops: at 1 << 20 that took 5 s.
 */
const MAX_RANGE_ITEMS = 1 << 17;

type Value = ReturnType<Interpreter['evaluate']>;

class BoundedInterpreter extends Interpreter {
  private steps = 0;

  override evaluate(...args: Parameters<Interpreter['evaluate']>): Value {
    if (++this.steps > MAX_STEPS) {
      throw new ChatTemplateError(`the chat template ran past ${MAX_STEPS} steps (a loop without a useful end?)`);
    }
    const value = super.evaluate(...args);
    const size = value.type === 'StringValue' || value.type === 'ArrayValue' ? (value.value as unknown[]).length : 0;
    if (size > (value.type === 'StringValue' ? MAX_CHARS : MAX_ITEMS)) {
      throw new ChatTemplateError(
        `the chat template made a ${value.type === 'StringValue' ? 'string' : 'list'} of ${size} items`,
      );
    }
    return value;
  }
}

/** Python's range, for one render: all its calls together make at most MAX_RANGE_ITEMS items. */
function boundedRange() {
  let made = 0;
  return (start: number, stop?: number, step = 1): number[] => {
    const [from, to] = stop === undefined ? [0, start] : [start, stop];
    if (step === 0) throw new ChatTemplateError('range() step must not be zero');
    const count = Math.max(0, Math.ceil((to - from) / step));
    made += count;
    if (!(made <= MAX_RANGE_ITEMS)) {
      throw new ChatTemplateError(`the chat template's ranges made over ${MAX_RANGE_ITEMS} items`);
    }
    return Array.from({ length: count }, (_, i) => from + i * step);
  };
}

/** strftime_now as @huggingface/jinja gives it: %Y %m %d %b %B %H %M %%. */
function strftimeNow(format: string): string {
  const date = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const month = (style: 'long' | 'short') => new Intl.DateTimeFormat(undefined, { month: style }).format(date);
  const parts: Record<string, () => string> = {
    '%Y': () => String(date.getFullYear()),
    '%m': () => pad(date.getMonth() + 1),
    '%d': () => pad(date.getDate()),
    '%b': () => month('short'),
    '%B': () => month('long'),
    '%H': () => pad(date.getHours()),
    '%M': () => pad(date.getMinutes()),
    '%%': () => '%',
  };
  return format.replace(/%[YmdbBHM%]/g, (token) => parts[token]());
}

/** A template's own refusal of a conversation (its raise_exception), told apart from its failures. */
export class ChatTemplateRefusal extends ChatTemplateError {}

export class ChatTemplate {
  private readonly template: Template;

  /** Parses `source`; a template that does not parse raises ChatTemplateError. */
  constructor(source: string) {
    try {
      this.template = new Template(source);
    } catch (cause) {
      throw new ChatTemplateError(`the chat template does not parse: ${String(cause)}`, { cause });
    }
  }

  /** The template's text for `variables` (messages, add_generation_prompt, ...), within the bounds. */
  render(variables: Record<string, unknown>): string {
    const env = new Environment();
    const globals: Record<string, unknown> = {
      false: false,
      true: true,
      none: null,
      False: false,
      True: true,
      None: null,
      range: boundedRange(),
      strftime_now: strftimeNow,
      raise_exception: (message: string) => {
        throw new ChatTemplateRefusal(`the chat template refused the conversation: ${message}`);
      },
    };
    for (const [name, value] of Object.entries({ ...globals, ...variables })) env.set(name, value);
    try {
      return String(new BoundedInterpreter(env).run(this.template.parsed).value);
    } catch (cause) {
      if (cause instanceof ChatTemplateError) throw cause;
      throw new ChatTemplateError(`the chat template failed: ${String(cause)}`, { cause });
    }
  }
}
