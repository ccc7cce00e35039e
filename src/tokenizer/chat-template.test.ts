/**
 * Chat templates as @huggingface/jinja renders them, within bounds: a hostile template ends in a
 * moment with ChatTemplateError instead of hanging or exhausting memory.
 */

import { Template } from '@huggingface/jinja';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from './chat-template';

const messages = [
  { role: 'system', content: 'You are a friendly storyteller.' },
  { role: 'user', content: 'Tell me a story.' },
];

// Shapes of published templates: ChatML (Qwen), Llama 3.1's header with a date, Gemma's turns.
const TEMPLATES = [
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  "{{- bos_token }}{%- set date_string = strftime_now('%d %b %Y') %}{%- for m in messages %}{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
  "{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 10, 3) %}{{ i }}{% endfor %}{{ strftime_now('%Y') | length }}",
];

describe('ChatTemplate', () => {
  it('renders published templates exactly as @huggingface/jinja does', () => {
    for (const source of TEMPLATES) {
      const variables = { messages, add_generation_prompt: true, bos_token: '<s>', eos_token: '</s>' };
      expect(new ChatTemplate(source).render(variables)).toBe(new Template(source).render(variables));
    }
  });

  it("renders Phi-4-mini's template: a turn per message, tools only on a system message that has them", () => {
    const phi4 =
      "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
      "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
      "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";
    const template = new ChatTemplate(phi4);
    expect(template.render({ messages, add_generation_prompt: true, eos_token: '<|endoftext|>' })).toBe(
      '<|system|>You are a friendly storyteller.<|end|><|user|>Tell me a story.<|end|><|assistant|>',
    );
    const tools = [{ ...messages[0], tools: '[]' }, messages[1]];
    expect(template.render({ messages: tools, add_generation_prompt: false, eos_token: '<|endoftext|>' })).toBe(
      '<|system|>You are a friendly storyteller.<|tool|>[]<|/tool|><|end|><|user|>Tell me a story.<|end|><|endoftext|>',
    );
  });

  it.each([
    ['a billion-step loop', '{% for i in range(1000000000) %}x{% endfor %}'],
    ['nested loops', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'],
    [
      'a string doubled forty times',
      "{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
    ],
    ['raise_exception', "{{ raise_exception('Conversation roles must alternate') }}"],
    ['an unknown filter', '{{ messages | no_such_filter }}'],
  ])('ends %s with ChatTemplateError, quickly', (_, source) => {
    const started = performance.now();
    const error = (() => {
      try {
        new ChatTemplate(source).render({ messages, add_generation_prompt: true });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error?.name).toBe('ChatTemplateError');
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
