"""TEXT__LLM: a prompt in, a language model's answer out, on the provider key of the account billed for the run.

``provider`` picks OpenAI (the default) or Anthropic. The node holds no key and knows no user: it hands the
run's key lookup (``NodeContext.provider_key``) to the provider module, which reads the payer's stored key at
the call (BYOK, ``PUT /api/v1/me/ai-keys``). The provider bills that key for the tokens; ``credit_cost`` is
the platform's fee for the run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pipelines.nodes.base import NodeContext, NodeError, NodeType, Port, register
from pipelines.providers import anthropic, openai
from pipelines.providers.base import ProviderError

PROVIDERS = {openai.NAME: openai, anthropic.NAME: anthropic}


@register
class Llm(NodeType):
    type = "TEXT__LLM"
    family = "llm"
    title = "LLM (OpenAI, Anthropic)"
    description = (
        "Sends the prompt to an OpenAI or Anthropic chat model and returns its answer. Uses the API key of "
        "that provider stored by the account billed for the run (PUT /api/v1/me/ai-keys, provider \"openai\" "
        "or \"anthropic\"): the pipeline owner on FractalQ, the caller elsewhere. The provider bills that "
        "key; the credits are the platform's fee."
    )
    inputs = (Port("prompt", "text", "The message sent to the model"),)
    outputs = (Port("text", "text", "The model's answer"),)
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "provider": {
                "type": "string", "enum": list(PROVIDERS), "default": "openai",
                "description": "Whose model: openai or anthropic (the key stored for that provider is used).",
            },
            "model": {
                "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$", "default": "gpt-4o-mini",
                "description": "Chat model of the provider that the key may use.",
                "examples": ["gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5"],
            },
            "system": {
                "type": "string", "maxLength": 20000, "default": "",
                "description": "System prompt: instructions that come before the prompt. Empty: none.",
            },
            "temperature": {
                "type": "number", "minimum": 0.0, "maximum": 2.0, "default": 1.0,
                "description": "Sampling temperature: lower is more deterministic.",
            },
            "max_tokens": {
                "type": "integer", "minimum": 1, "maximum": 16384, "default": 1024,
                "description": "Most tokens the answer may have.",
            },
        },
        "additionalProperties": False,
    }
    credit_cost = 1
    resource_class = "cpu"  # waits on the network, computes nothing
    cacheable = False  # a sampled answer: the same prompt may rightly get another one
    provider_param = "model"  # recorded on each attempt; a fallback may name another model
    # A typical answer; a slow provider is cut by PROVIDER_TIMEOUT_SECONDS x (1 + PROVIDER_MAX_RETRIES).
    base_seconds = 10.0

    def run(self, ctx: NodeContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        prompt = inputs.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise NodeError("The prompt is empty", code="INVALID_INPUT")
        try:
            answer = PROVIDERS[params["provider"]].chat(
                ctx.provider_key,
                model=params["model"],
                prompt=prompt,
                system=params["system"],
                temperature=params["temperature"],
                max_tokens=params["max_tokens"],
            )
        except ProviderError as exc:
            raise NodeError(exc.message, exc.code, server_fault=exc.server_fault) from None
        return {"text": answer}
