"""The document agent: text artifacts. Operations create, update, suggest, revert, accept_suggestion,
reject_suggestion.

Prompts and templates come from the agent row (`document_agent_{provider}.tools.<op>`): create fills
`{title}` and `{instruction}`; update fills `{currentContent}` and `{updateInstruction}`; suggest fills
`{currentContent}` and `{instruction}` and asks the provider for structured output. Revert copies an older
version forward as a new version and calls no model. accept_suggestion writes the latest version with a
saved suggestion's replacement applied as a new version and marks the suggestion resolved;
reject_suggestion only marks it resolved; both in one transaction as the caller, no model call. Every
write is a new `Document` version with the metadata the original wrote (`updateType`, `agentInfo`,
timestamps, `modelUsed`, …).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from artificer.agents import artifacts
from artificer.agents.artifacts import (
    URI_DESCRIPTION,
    ArtifactAgent,
    ArtifactInput,
    Instruction,
    Title,
    artifact_uri,
    fill,
    title_from,
)
from artificer.agents.base import AgentCall, AgentInputError, AgentOutcome, AgentSpec, Operation
from artificer.agents.providers.base import LLMRequest
from artificer.common.records import Document, DocumentKind, SuggestionDraft
from pydantic import BaseModel, Field

AGENT_INFO = "document-agent"
KIND: DocumentKind = "text"
AGENT = ArtifactAgent(
    agent_type="document_agent",
    kind=KIND,
    noun="document",
    plural="documents",
    edits="text",
    id_argument="documentId",
    signature=("agentInfo", AGENT_INFO),
)


class DocumentAgentInput(ArtifactInput):
    operation: Literal["create", "update", "suggest", "revert", "accept_suggestion", "reject_suggestion"] = (
        Field(description="What to do.")
    )
    instruction: Instruction = Field(
        default=None, description="What to write or change (create, update, suggest)."
    )
    title: Title = Field(
        default=None,
        description="Title of a new document (create); default: the first line of the instruction.",
    )
    documentId: UUID | None = Field(default=None, description="The document (update, suggest, revert).")
    suggestionId: UUID | None = Field(
        default=None,
        description="A saved suggestion, as returned by suggest (accept_suggestion, reject_suggestion).",
    )


class Suggestion(BaseModel):
    originalText: str = Field(description="5–15 words copied exactly from the document.")
    suggestedText: str = Field(description="The replacement text.")
    description: str = Field(description="Why the change helps.")


class SuggestionList(BaseModel):
    """The structured answer asked of the provider."""

    suggestions: list[Suggestion]


class SavedSuggestion(Suggestion):
    id: UUID


class DocumentResult(BaseModel):
    id: UUID
    title: str
    kind: str
    version: int
    operation: str
    uri: str = Field(description=URI_DESCRIPTION)
    content: str | None = None
    suggestions: list[SavedSuggestion] | None = None
    droppedSuggestions: int | None = Field(
        default=None, description="Suggestions whose originalText does not occur in the document (not saved)."
    )
    revertedFrom: int | None = None
    revertedTo: int | None = None
    suggestionId: UUID | None = Field(
        default=None, description="The suggestion accepted or rejected (now resolved)."
    )


def _require(call: AgentCall, key: str) -> str:
    return artifacts.required_config(call, AGENT.agent_type, key)


def _need_instruction(args: DocumentAgentInput, operation: str) -> str:
    if args.instruction is None or not args.instruction.strip():
        raise AgentInputError(f"operation {operation} needs `instruction`: say what to write or change")
    return args.instruction


def _need_id(args: DocumentAgentInput, operation: str) -> UUID:
    if args.documentId is None:
        raise AgentInputError(
            f"operation {operation} needs `documentId`: the id of one of your documents "
            "(list them with the `artifacts` tool)"
        )
    return args.documentId


async def _latest(call: AgentCall, document_id: UUID) -> Document:
    return await artifacts.latest(call, AGENT, document_id)


async def _stream_text(call: AgentCall, system: str, prompt: str) -> str:
    return await artifacts.stream_text(
        call,
        system,
        prompt,
        empty="the model returned an empty document; try again or rephrase the instruction",
    )


def _result(doc: Document, operation: str, **extra: Any) -> DocumentResult:
    return DocumentResult(
        id=doc.id,
        title=doc.title,
        kind=doc.kind,
        version=doc.version_number,
        operation=operation,
        uri=artifact_uri(doc.id, doc.version_number),
        **extra,
    )


def _outcome(doc: Document, result: DocumentResult, summary: str, **meta: Any) -> AgentOutcome:
    return AgentOutcome(
        result=result,
        resource_id=doc.id,
        resource_type="document",
        resource_uri=result.uri,
        resource_title=f"{doc.title} (v{doc.version_number})",
        resource_mime_type=artifacts.mime_type(doc.kind),
        summary=summary,
        metadata={"document_id": str(doc.id), "version": doc.version_number, **meta},
    )


async def create(call: AgentCall) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, DocumentAgentInput)
    instruction = _need_instruction(args, "create")
    title = args.title.strip() if args.title else title_from(instruction)
    system = _require(call, "systemPrompt")
    template = _require(call, "userPromptTemplate")
    content = await _stream_text(call, system, fill(template, {"title": title, "instruction": instruction}))
    assert call.model is not None
    doc = await call.store.save_version(
        document_id=None,
        title=title,
        kind=KIND,
        content=content,
        metadata={
            "updateType": "create",
            "agentInfo": AGENT_INFO,
            "createdAt": artifacts.now(),
            "modelUsed": call.model.model_id,
        },
    )
    result = _result(doc, "create", content=content)
    return _outcome(doc, result, f"Created {doc.title!r} ({doc.id}), version 1.", output_length=len(content))


async def update(call: AgentCall) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, DocumentAgentInput)
    document_id = _need_id(args, "update")
    instruction = _need_instruction(args, "update")
    system = _require(call, "systemPrompt")
    template = _require(call, "userPromptTemplate")
    current = await _latest(call, document_id)
    prompt = fill(
        template,
        {
            "currentContent": current.content or "",
            "updateInstruction": instruction,
            "instruction": instruction,
        },
    )
    content = await _stream_text(call, system, prompt)
    assert call.model is not None
    doc = await call.store.save_version(
        document_id=document_id,
        content=content,
        expected_version=current.version_number,
        metadata={
            "updateType": "update",
            "agentInfo": AGENT_INFO,
            "previousVersion": current.version_number,
            "updatedAt": artifacts.now(),
            "modelUsed": call.model.model_id,
            "updateInstruction": instruction,
        },
    )
    result = _result(doc, "update", content=content)
    return _outcome(
        doc,
        result,
        f"Updated {doc.title!r} ({doc.id}) to version {doc.version_number}.",
        output_length=len(content),
    )


async def revert(call: AgentCall) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, DocumentAgentInput)
    document_id = _need_id(args, "revert")
    reverted = await artifacts.revert(call, AGENT, document_id, args.targetVersion)
    doc, source, target = reverted.document, reverted.reverted_from, reverted.reverted_to
    result = _result(doc, "revert", content=doc.content, revertedFrom=source, revertedTo=target)
    return _outcome(
        doc,
        result,
        f"Reverted {doc.title!r} ({doc.id}) to the content of version {target}; "
        f"now version {doc.version_number}.",
        reverted_from=source,
        reverted_to=target,
    )


async def suggest(call: AgentCall) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, DocumentAgentInput)
    document_id = _need_id(args, "suggest")
    instruction = args.instruction or "Suggest improvements to clarity, structure and wording."
    system = _require(call, "systemPrompt")
    template = _require(call, "userPromptTemplate")
    current = await _latest(call, document_id)
    content = current.content or ""
    assert call.provider is not None and call.model is not None
    await call.progress(0.0, None, "reviewing")
    answer = await call.provider.generate_object(
        LLMRequest(
            model=call.model.model_id,
            prompt=fill(template, {"currentContent": content, "instruction": instruction}),
            system=system,
            temperature=0.7,
            thinking=call.model.thinking,
            pricing=call.model.pricing,
        ),
        SuggestionList,
    )
    call.llm_calls.append(answer.result)
    found = [s for s in answer.value.suggestions if s.originalText and s.originalText in content]
    dropped = len(answer.value.suggestions) - len(found)
    drafts = [SuggestionDraft(s.originalText, s.suggestedText, s.description) for s in found]
    saved = await call.store.save_suggestions(current, drafts)
    suggestions = [
        SavedSuggestion(
            id=row.id,
            originalText=row.original_text,
            suggestedText=row.suggested_text,
            description=row.description or "",
        )
        for row in saved
    ]
    result = _result(current, "suggest", suggestions=suggestions, droppedSuggestions=dropped)
    return _outcome(
        current,
        result,
        f"{len(suggestions)} suggestion(s) saved for {current.title!r} ({current.id}) version "
        f"{current.version_number}"
        + (f"; {dropped} dropped (text not found in the document)." if dropped else "."),
        suggestion_count=len(suggestions),
        dropped_suggestions=dropped,
    )


def _need_suggestion(args: DocumentAgentInput, operation: str) -> UUID:
    if args.suggestionId is None:
        raise AgentInputError(
            f"operation {operation} needs `suggestionId`: "
            "the id of an open suggestion, as returned by suggest"
        )
    return args.suggestionId


async def _resolve(call: AgentCall, *, accept: bool) -> AgentOutcome:
    args = call.arguments
    assert isinstance(args, DocumentAgentInput)
    operation = call.operation.name
    suggestion_id = _need_suggestion(args, operation)
    metadata: dict[str, Any] = {
        "updateType": "suggestion",
        "agentInfo": AGENT_INFO,
        "updatedAt": artifacts.now(),
        "modelUsed": None,
    }
    suggestion, doc = await call.store.resolve_suggestion(
        suggestion_id, accept=accept, kind=KIND, metadata=metadata if accept else None
    )
    if accept:
        result = _result(doc, operation, content=doc.content, suggestionId=suggestion.id)
        summary = (
            f"Accepted suggestion {suggestion.id}: {doc.title!r} ({doc.id}) is now version "
            f"{doc.version_number}."
        )
    else:
        result = _result(doc, operation, suggestionId=suggestion.id)
        summary = (
            f"Rejected suggestion {suggestion.id} of {doc.title!r} ({doc.id}); the document is unchanged."
        )
    return _outcome(doc, result, summary, suggestion_id=str(suggestion.id))


async def accept_suggestion(call: AgentCall) -> AgentOutcome:
    return await _resolve(call, accept=True)


async def reject_suggestion(call: AgentCall) -> AgentOutcome:
    return await _resolve(call, accept=False)


RUNNERS = {
    "create": create,
    "update": update,
    "revert": revert,
    "suggest": suggest,
    "accept_suggestion": accept_suggestion,
    "reject_suggestion": reject_suggestion,
}


async def run(call: AgentCall) -> AgentOutcome:
    return await RUNNERS[call.operation.name](call)


SPEC = AgentSpec(
    agent_type="document_agent",
    chat_tool_key="documentAgent",
    title="Document agent",
    operations=(
        Operation("create", "create", "document_generation", "generation", requires=("instruction",)),
        Operation(
            "update", "update", "document_generation", "generation", requires=("documentId", "instruction")
        ),
        Operation("suggest", "suggestion", "document_generation", "generation", requires=("documentId",)),
        Operation(
            "revert",
            "revert",
            "document_generation",
            "generation",
            requires=("documentId",),
            calls_model=False,
        ),
        Operation(
            "accept_suggestion",
            "acceptSuggestion",
            "document_generation",
            "generation",
            requires=("suggestionId",),
            calls_model=False,
        ),
        Operation(
            "reject_suggestion",
            "rejectSuggestion",
            "document_generation",
            "generation",
            requires=("suggestionId",),
            calls_model=False,
        ),
    ),
    input_model=DocumentAgentInput,
    output_model=DocumentResult,
    run=run,
    id_argument="documentId",
    resource_type="document",
    parameter_keys={
        "operation": "operation",
        "instruction": "instruction",
        "documentId": "documentId",
        "targetVersion": "targetVersion",
        "suggestionId": "suggestionId",
    },
)
