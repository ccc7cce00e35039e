/**
 * MLC's conversation template (mlc-chat-config.json's `conv_template`) as a chat format: the
 * prompt web-llm builds from it, for MLC folders whose tokenizer_config.json has no Jinja chat
 * template. As web-llm's Conversation.getPromptArray renders it:
 *
 *   [system_prefix_token_ids] system_template(system message)   (nothing for an empty message
 *                                                              when render_empty_system_message is false)
 *   for message i (system excluded): role + role_content_sep + role_template(content) + seps[i % seps]
 *   then, to open the reply: assistant role + role_empty_sep
 *
 * (the first message's role is left out after a system prompt when add_role_after_system_message
 * is false; a missing separator is ": ").
 */

import type { ConvTemplate } from '../loader/mlc-config';
import type { ChatMessage } from './tokenizer';

const PLACEHOLDER: Record<string, string> = {
  user: '{user_message}',
  assistant: '{assistant_message}',
};

export class ConvTemplateFormat {
  constructor(
    private readonly conv: ConvTemplate,
    /** A token id's text (the system prefix is ids: BOS, usually). */
    private readonly tokenText: (id: number) => string,
  ) {}

  /** The prompt for `context.messages` (a Jinja template's other variables mean nothing here). */
  render(context: { messages: ChatMessage[]; add_generation_prompt: boolean; [variable: string]: unknown }): string {
    const conv = this.conv;
    const [first, ...rest] = context.messages;
    const system = first?.role === 'system' ? first.content : conv.system_message;
    const turns = first?.role === 'system' ? rest : context.messages;
    const omitSystem = system === '' && conv.render_empty_system_message === false;
    const systemPrompt = omitSystem ? '' : conv.system_template.replace('{system_message}', system);
    let out = (conv.system_prefix_token_ids ?? []).map(this.tokenText).join('') + systemPrompt;
    const contentSep = conv.role_content_sep ?? ': ';
    turns.forEach((message, i) => {
      const role = conv.roles[message.role] ?? message.role;
      const template = conv.role_templates?.[message.role];
      const content = template
        ? template.replace(PLACEHOLDER[message.role] ?? '', message.content).replace('{function_string}', '')
        : message.content;
      const omitRole = conv.add_role_after_system_message === false && systemPrompt !== '' && i === 0;
      out += (omitRole ? '' : role + contentSep) + content + conv.seps[i % conv.seps.length];
    });
    if (context.add_generation_prompt) out += (conv.roles.assistant ?? 'assistant') + (conv.role_empty_sep ?? ': ');
    return out;
  }
}
