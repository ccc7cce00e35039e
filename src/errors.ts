/**
 * Named errors. Every failure a user can act on has its own class with a stable `name`,
 * because only `name`, `message` and `stack` survive the trip across a worker boundary
 * (structured clone / comlink): callers branch on `err.name`, never on `instanceof`.
 */

export class TandemError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TandemError';
  }
}

/** No WebGPU at all (no `navigator.gpu`) or no adapter behind it. */
export class WebGPUUnavailableError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WebGPUUnavailableError';
  }
}

/** The GPU device was lost (driver reset, tab in background too long, out of memory). */
export class GPUDeviceLostError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUDeviceLostError';
  }
}

/** The GPU ran out of memory while allocating buffers. */
export class GPUOutOfMemoryError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUOutOfMemoryError';
  }
}

/** A WebGPU validation or internal error: a bug in Tandem, reported with the driver's text. */
export class GPUValidationError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUValidationError';
  }
}

/** A model needs more than the adapter allows (buffer size, binding size, workgroup storage). */
export class ModelTooLargeError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelTooLargeError';
  }
}

/** A model file could not be read: missing, not served, or the download failed. */
export class ModelFileMissingError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelFileMissingError';
  }
}

/** A safetensors file is malformed: truncated, bad header, unknown dtype, bad offsets. */
export class SafetensorsFormatError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SafetensorsFormatError';
  }
}

/** An MLC model folder's tensor-cache.json, or a shard it lists, is malformed or disagrees with it. */
export class TensorCacheFormatError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TensorCacheFormatError';
  }
}

/** A GGUF file (llama.cpp's format) is malformed: not GGUF, truncated, or its header disagrees with itself. */
export class GgufFormatError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GgufFormatError';
  }
}

/** A quantization Tandem does not run (MLC's q3, q4f16_0 in the KN layout, AWQ...). */
export class UnsupportedQuantizationError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnsupportedQuantizationError';
  }
}

/** A folder holding parts of two formats (Hugging Face's config.json and MLC's tensor cache, say). */
export class MixedModelFormatsError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MixedModelFormatsError';
  }
}

/** A request to an engine whose models were unloaded (or never loaded). */
export class ModelNotLoadedError extends TandemError {
  constructor(message = 'No model is loaded: load one first (reload(), or a new engine).') {
    super(message);
    this.name = 'ModelNotLoadedError';
  }
}

/** No model of that id in the catalogue (web-llm's prebuiltAppConfig, or the app's appConfig). */
export class ModelNotFoundError extends TandemError {
  constructor(modelId: string) {
    super(
      `Cannot find model record in appConfig for ${modelId}. Check that the model id is right and in the ` +
        "catalogue's model_list (see listModels()).",
    );
    this.name = 'ModelNotFoundError';
  }
}

/** config.json is missing a field, has a bad value, or names an architecture Tandem does not run. */
export class ModelConfigError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelConfigError';
  }
}

export class UnsupportedArchitectureError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnsupportedArchitectureError';
  }
}

/** A tensor the config requires is not in the weights file. */
export class TensorMissingError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TensorMissingError';
  }
}

/** A tensor's shape disagrees with what config.json implies. */
export class TensorShapeError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TensorShapeError';
  }
}

/** tokenizer.json or tokenizer_config.json is missing or cannot be parsed. */
export class TokenizerError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TokenizerError';
  }
}

/** The draft and target models do not share a tokenizer, so the draft's tokens mean nothing to the target. */
export class VocabularyMismatchError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'VocabularyMismatchError';
  }
}

/** A draft head (EAGLE) was trained for another target: its hidden size, vocabulary or layers do not fit the loaded one. */
export class DraftHeadMismatchError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DraftHeadMismatchError';
  }
}

/** The draft asked for is the model's own multi-token prediction layer, and its folder has none. */
export class NoMtpLayerError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NoMtpLayerError';
  }
}

/** Browser storage refused a model file (quota exceeded, or storage unavailable). */
export class StorageQuotaError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StorageQuotaError';
  }
}

/** A prefix kept on disk failed its check (size or SHA-256): it was dropped and the prefix computed afresh. */
export class StoredPrefixDamagedError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoredPrefixDamagedError';
  }
}

/** The GPU lacks an optional feature that a tool needs (timestamp queries, for profiling). */
export class GPUFeatureMissingError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'GPUFeatureMissingError';
  }
}

/** A request the engine cannot serve as given: a bad field, an unsupported option, too long a conversation. */
export class InvalidRequestError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidRequestError';
  }
}

/** A model file names another file outside its folder (a shard path with `..`, an absolute path, another origin). */
export class UnsafeFilePathError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnsafeFilePathError';
  }
}

/** A model file kept in browser storage no longer matches its recorded size and SHA-256: it was dropped, to be downloaded again. */
export class StoredFileDamagedError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoredFileDamagedError';
  }
}

/*
 * Request fields out of range, named as web-llm names them so that an app written for web-llm
 * branches on the same names (web-llm calls its range error "RangeError"; so does this one).
 */

/** A field must be greater than a minimum: max_tokens > 0, repetition_penalty > 0. */
export class MinValueError extends InvalidRequestError {
  constructor(field: string, min: number, got: unknown) {
    super(`Make sure \`${field}\` > ${min}; got ${JSON.stringify(got)}.`);
    this.name = 'MinValueError';
  }
}

/** A field must not be negative: temperature >= 0. */
export class NonNegativeError extends InvalidRequestError {
  constructor(field: string, got: unknown) {
    super(`Make sure \`${field}\` >= 0; got ${JSON.stringify(got)}.`);
    this.name = 'NonNegativeError';
  }
}

/** A field must lie in a range: top_p in (0, 1], the penalties in [-2, 2], logit_bias in [-100, 100]. */
export class ValueRangeError extends InvalidRequestError {
  constructor(field: string, range: string, got: unknown) {
    super(`Make sure \`${field}\` is in ${range}; got ${JSON.stringify(got)}.`);
    this.name = 'RangeError';
  }
}

/** More than one choice (`n` > 1) of a streamed reply: choices are made one after another. */
export class StreamingCountError extends InvalidRequestError {
  constructor() {
    super('When streaming, `n` cannot be > 1.');
    this.name = 'StreamingCountError';
  }
}

/** `response_format.schema` given with a type other than `json_object`. */
export class InvalidResponseFormatError extends InvalidRequestError {
  constructor() {
    super('JSON schema is only supported with `json_object` response format.');
    this.name = 'InvalidResponseFormatError';
  }
}

/** `response_format.type` 'grammar' without a grammar, or a grammar with another type. */
export class InvalidResponseFormatGrammarError extends InvalidRequestError {
  constructor() {
    super(
      'When ResponseFormat.type is `grammar`, ResponseFormat.grammar needs to be specified.\n' +
        'When ResponseFormat.grammar is specified, ResponseFormat.type needs to be grammar.',
    );
    this.name = 'InvalidResponseFormatGrammarError';
  }
}

/** `response_format.type` 'structural_tag' without its tag, or a tag with another type. */
export class InvalidResponseFormatStructuralTagError extends InvalidRequestError {
  constructor() {
    super(
      'When ResponseFormat.type is `structural_tag`, ResponseFormat.structural_tag needs to be specified.\n' +
        'When ResponseFormat.structural_tag is specified, ResponseFormat.type needs to be structural_tag.',
    );
    this.name = 'InvalidResponseFormatStructuralTagError';
  }
}

/** A response format's schema, grammar or structural tag that cannot be compiled. */
export class GrammarMatcherInitError extends InvalidRequestError {
  constructor(type: string, reason: string, options?: ErrorOptions) {
    super(`Failed to initialize the grammar matcher for response format \`${type}\`: ${reason}`, options);
    this.name = 'GrammarMatcherInitError';
  }
}

/** `response_format` beside `tools`: function calling sets the format itself. */
export class CustomResponseFormatError extends InvalidRequestError {
  constructor(format: unknown) {
    super(
      'When calling functions (`tools`), `response_format` cannot be given: the reply is held to a list of calls. ' +
        `It was set to: ${JSON.stringify(format)}`,
    );
    this.name = 'CustomResponseFormatError';
  }
}

/** A field that needs another field set: `top_logprobs` without `logprobs: true`. */
export class DependencyError extends InvalidRequestError {
  constructor(dependent: string, required: string, value: unknown) {
    super(`\`${dependent}\` requires \`${required}\` to be ${JSON.stringify(value)}.`);
    this.name = 'DependencyError';
  }
}

/** `seed` must be an integer. */
export class SeedTypeError extends InvalidRequestError {
  constructor(got: unknown) {
    super(`\`seed\` should be an integer, but got ${JSON.stringify(got)}.`);
    this.name = 'SeedTypeError';
  }
}

/** A request asks for something Tandem does not do (tools, structured output, n > 1, ...). */
export class UnsupportedFieldsError extends InvalidRequestError {
  constructor(fields: string[]) {
    super(`These request fields are not supported: ${fields.join(', ')}. Leave them out.`);
    this.name = 'UnsupportedFieldsError';
  }
}

/** A message's role is not system, user or assistant. */
export class UnsupportedRoleError extends InvalidRequestError {
  constructor(role: unknown) {
    super(`Unsupported role of message: ${JSON.stringify(role)} (system, user, assistant).`);
    this.name = 'UnsupportedRoleError';
  }
}

/** The conversation does not end with the user's message. */
export class MessageOrderError extends InvalidRequestError {
  constructor(message: string) {
    super(message);
    this.name = 'MessageOrderError';
  }
}

/** The prompt does not fit in the engine's context. */
export class ContextWindowSizeExceededError extends InvalidRequestError {
  constructor(promptTokens: number, contextLength: number) {
    super(
      `The conversation is ${promptTokens} tokens long; this engine holds ${contextLength}. ` +
        'Start a new conversation or shorten it.',
    );
    this.name = 'ContextWindowSizeExceededError';
  }
}

/** A model's chat template does not parse, fails on a conversation, or runs past its bounds. */
export class ChatTemplateError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ChatTemplateError';
  }
}

/** The model's logits are not numbers (NaN): damaged weights, or an overflow. */
export class InvalidLogitsError extends TandemError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidLogitsError';
  }
}

/*
 * A reply to a request with `tools` that is not a list of calls (web-llm's names): only where a
 * grammar did not hold it, so never in a reply that ended with its stop token.
 */

export class ToolCallOutputParseError extends TandemError {
  constructor(output: string, cause: unknown) {
    super(`The reply to a function-calling request is not JSON: ${output}`, { cause });
    this.name = 'ToolCallOutputParseError';
  }
}

export class ToolCallOutputInvalidTypeError extends TandemError {
  constructor(expected: string) {
    super(`The reply to a function-calling request should be an ${expected} of calls.`);
    this.name = 'ToolCallOutputInvalidTypeError';
  }
}

export class ToolCallOutputMissingFieldsError extends TandemError {
  constructor(fields: string[], call: unknown) {
    super(`A tool call should have the fields ${fields.map((f) => `"${f}"`).join(', ')}; got ${JSON.stringify(call)}.`);
    this.name = 'JSONFieldError';
  }
}
