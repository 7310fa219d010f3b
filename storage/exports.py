# Turns a conversation export (repo.export_conversation's dict) into the formats people take elsewhere:
# Markdown to read, OpenAI chat JSONL to fine-tune on, and DPO preference pairs from rated replies.

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

from storage.imports import AnnotationRow, ExportFile, LaneRow, MessageRow, validate_export
from storage.tree import walk


class _Tree:
    """The export's message tree, indexed the ways the formats walk it (all lists in id order)."""

    def __init__(self, export: ExportFile) -> None:
        self.export = export
        self.lanes = sorted(export.lanes, key=lambda lane: (lane.position, lane.id))
        self.messages = sorted(export.messages, key=lambda m: m.id)
        self.by_id = {m.id: m for m in self.messages}
        self.users: dict[int | None, list[MessageRow]] = {}
        self.replies: dict[int | None, list[MessageRow]] = {}
        for m in self.messages:
            (self.users if m.role == "user" else self.replies).setdefault(m.parent_id, []).append(m)
        self.notes: dict[int | None, list[AnnotationRow]] = {}
        for a in sorted(export.annotations, key=lambda a: a.id):
            self.notes.setdefault(a.message_id, []).append(a)

    def current_path(self) -> list[MessageRow]:
        """From the first user message, always the newest branch: what the Compare page shows."""
        return [turn.user for turn in walk(self.messages)]

    def paths(self) -> Iterator[list[MessageRow]]:
        """Every root-to-leaf chain of user messages, by leaf id."""
        for leaf in self.messages:
            if leaf.role == "user" and not self.users.get(leaf.id):
                chain = [leaf]
                while chain[-1].parent_id is not None:
                    chain.append(self.by_id[chain[-1].parent_id])
                yield chain[::-1]

    def lane_replies(self, user_id: int, lane_id: int) -> list[MessageRow]:
        return [r for r in self.replies.get(user_id, []) if r.lane_id == lane_id]

    def rating(self, message_id: int) -> int | None:
        """The latest rating given to a message."""
        ratings = [a.rating for a in self.notes.get(message_id, []) if a.rating is not None]
        return ratings[-1] if ratings else None


def _json_line(value: Any) -> str:
    # Readable UTF-8, but the line separators json leaves raw are escaped: str.splitlines() splits on them.
    line = json.dumps(value, ensure_ascii=False)
    return line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


def _usable(reply: MessageRow) -> bool:
    return reply.status != "error" and bool(reply.content.strip())


# The messages a chat lane was sent before the conversation itself (system prompt, a mask's example turns),
# for replies that carry no stored prompt; computing them needs the mask, which storage does not know.
ChatOpening = Callable[[LaneRow], list[dict[str, str]]]


def to_jsonl(export: dict[str, Any], chat_opening: ChatOpening) -> str:
    """OpenAI chat fine-tuning format: one `{"messages": [...]}` line per lane and path of user messages.

    A conversation without branches gives one line per lane. A chat lane's line is the exact message list
    stored with its last answered reply on the path, plus that reply: what the model was really sent.
    Otherwise (base lanes, and chat replies saved without a prompt) each user turn is followed by the lane's
    newest reply to it (error and empty replies are left out, as the lane's own history leaves them out),
    chat lanes opening with `chat_opening(lane)`. Trailing user turns without a reply are dropped, and a
    line with no reply at all is not written. Raises ImportError_ for an invalid export.
    """
    tree = _Tree(validate_export(export))
    lines: list[str] = []
    for lane in tree.lanes:
        for path in tree.paths():
            messages = _sent(tree, lane, path) if lane.kind == "chat" else None
            if messages is None:
                messages = _rebuilt(tree, lane, path, chat_opening(lane) if lane.kind == "chat" else [])
            if any(m["role"] == "assistant" for m in messages):
                lines.append(_json_line({"messages": messages}))
    return "".join(line + "\n" for line in lines)


def _sent(tree: "_Tree", lane: LaneRow, path: list[MessageRow]) -> list[dict[str, Any]] | None:
    """The stored message list of the lane's last answered reply on the path, and the reply; None when that
    reply has no stored list."""
    for user in reversed(path):
        replies = tree.lane_replies(user.id, lane.id)
        if replies and _usable(replies[-1]):
            reply = replies[-1]
            if not _is_message_list(reply.prompt):
                return None
            return [*reply.prompt, {"role": "assistant", "content": reply.content}]
    return None


def _is_message_list(prompt: Any) -> TypeGuard[list[dict[str, str]]]:
    """A stored prompt that is a chat message list (an imported file may hold anything JSON)."""
    return (
        isinstance(prompt, list)
        and bool(prompt)
        and all(
            isinstance(m, dict)
            and set(m) == {"role", "content"}
            and m["role"] in ("system", "user", "assistant")
            and isinstance(m["content"], str)
            for m in prompt
        )
    )


def _rebuilt(
    tree: "_Tree", lane: LaneRow, path: list[MessageRow], opening: list[dict[str, str]]
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = list(opening)
    answered = 0
    for user in path:
        messages.append({"role": "user", "content": user.content})
        replies = tree.lane_replies(user.id, lane.id)
        if replies and _usable(replies[-1]):
            messages.append({"role": "assistant", "content": replies[-1].content})
            answered = len(messages)
    return messages[:answered]


def to_dpo(export: dict[str, Any]) -> str:
    """Preference pairs as JSONL lines `{"prompt", "chosen", "rejected"}` (TRL's standard format).

    For each user message, every two rated replies to it (regenerated siblings or other lanes) with
    different ratings make a pair: chosen has the higher rating (a reply's latest one). The prompt is
    that user message's text; error replies and pairs with identical text are left out.
    Raises ImportError_ for an invalid export.
    """
    tree = _Tree(validate_export(export))
    lines: list[str] = []
    for user in tree.messages:
        if user.role != "user":
            continue
        rated = [(r, tree.rating(r.id)) for r in tree.replies.get(user.id, []) if r.status != "error"]
        scored = [(r, score) for r, score in rated if score is not None]
        for chosen, high in scored:
            for rejected, low in scored:
                if high > low and chosen.content != rejected.content:
                    pair = {"prompt": user.content, "chosen": chosen.content, "rejected": rejected.content}
                    lines.append(_json_line(pair))
    return "".join(line + "\n" for line in lines)


# -- Markdown ---------------------------------------------------------------------------------------


def _annotation_lines(notes: list[AnnotationRow]) -> list[str]:
    lines: list[str] = []
    for a in notes:
        parts = []
        if a.rating is not None:
            parts.append(f"rating {a.rating:+d}")
        if a.tags:
            parts.append("tags " + ", ".join(f"`{t}`" for t in a.tags))
        head = "> **Annotation**" + (f" by {a.reviewer}" if a.reviewer else "")
        head += (": " + " · ".join(parts)) if parts else ""
        lines.append(head)
        if a.note:
            lines += [">", *(f"> {line}" for line in a.note.split("\n"))]
        lines.append("")
    return lines


def _settings(lane: LaneRow) -> str:
    parts = [
        f"temperature {lane.temperature:g}",
        f"top_p {lane.top_p:g}",
        f"top_k {lane.top_k}",
        f"max_tokens {lane.max_tokens}",
        f"seed {lane.seed}" if lane.seed is not None else "no seed",
    ]
    if lane.stop:
        parts.append("stop " + ", ".join(json.dumps(s, ensure_ascii=False) for s in lane.stop))
    if lane.contrast is not None:
        parts.append(f"contrasted with {lane.contrast.mask}, γ {lane.contrast.gamma:g}")
    if lane.steering is not None:
        parts.append(f"steered with {lane.steering.label}")
    return ", ".join(parts)


class _Markdown:
    def __init__(self, tree: _Tree) -> None:
        self.tree = tree
        self.labels = {lane.id: lane.label or f"Lane {i + 1}" for i, lane in enumerate(tree.lanes)}
        self.out: list[str] = []
        self.written: set[int] = set()

    def message(self, m: MessageRow, speaker: str) -> None:
        state = {"incomplete": " _(incomplete)_", "error": f" _(error: {m.error or 'unknown'})_"}
        self.out += [f"**{speaker}:**{state.get(m.status, '')}", ""]
        # The text as written (a reply's own Markdown renders); an empty or blank one still says so.
        if m.content.strip():
            self.out += [m.content, ""]
        else:
            self.out += [m.content + ("_(empty)_" if not m.content else "_(blank)_"), ""]
        self.out += _annotation_lines(self.tree.notes.get(m.id, []))
        self.written.add(m.id)

    def replies(self, replies: list[MessageRow], speaker: str) -> None:
        if not replies:
            return
        *older, newest = replies
        self.message(newest, speaker)
        for n, reply in enumerate(older, start=1):
            self.message(reply, f"{speaker} (earlier reply {n} of {len(older)}, regenerated)")

    def lane(self, number: int, lane: LaneRow, path: list[MessageRow]) -> None:
        self.out += [f"## Lane {number}: {self.labels[lane.id]}", ""]
        self.out.append(f"- Kind: {lane.kind}")
        self.out.append(f"- Model: `{lane.model}`")
        self.out.append(f"- Mask: {lane.mask_name or 'none'}")
        if lane.system_prompt:
            self.out.append("- System prompt: " + lane.system_prompt.replace("\n", " "))
        self.out += [f"- Settings: {_settings(lane)}", ""]
        for turn, user in enumerate(path, start=1):
            self.out += [f"### Turn {turn}", ""]
            self.message(user, "User")
            self.replies(self.tree.lane_replies(user.id, lane.id), self.labels[lane.id])

    def branch(self, user: MessageRow) -> None:
        parent = "the start" if user.parent_id is None else f"message {user.parent_id}"
        self.out += [f"### Message {user.id} (branches from {parent})", ""]
        self.message(user, "User")
        for lane in self.tree.lanes:
            self.replies(self.tree.lane_replies(user.id, lane.id), self.labels[lane.id])


def to_markdown(export: dict[str, Any]) -> str:
    """A readable transcript: the title and notes, then one section per lane (model, mask, settings)
    with the current path's user turns and that lane's replies, annotations under what they annotate.

    Messages off the current path (other branches, older regenerations) follow, so every message's text
    appears. Raises ImportError_ for an invalid export.
    """
    data = validate_export(export)
    tree = _Tree(data)
    md = _Markdown(tree)
    conversation = data.conversation
    md.out += [f"# {conversation.title.strip() or 'Untitled conversation'}", ""]
    when = [
        f"{name} {value.isoformat(timespec='seconds')}"
        for name, value in (("created", conversation.created_at), ("updated", conversation.updated_at))
        if value is not None
    ]
    md.out += [f"_Conversation {conversation.id}" + ("; " + ", ".join(when) if when else "") + "_", ""]
    if conversation.notes:
        md.out += [conversation.notes, ""]
    md.out += _annotation_lines(tree.notes.get(None, []))
    path = tree.current_path()
    for number, lane in enumerate(tree.lanes, start=1):
        md.lane(number, lane, path)
    rest = [m for m in tree.messages if m.id not in md.written]
    if rest:
        md.out += ["## Other branches", ""]
        for user in (m for m in rest if m.role == "user"):
            md.branch(user)
        stray = [m for m in rest if m.id not in md.written]  # replies to no user message
        if stray:
            md.out += ["### Replies without a user message", ""]
            for reply in stray:
                md.message(reply, md.labels.get(reply.lane_id or 0, "Model"))
    return "\n".join(md.out).rstrip("\n") + "\n"


def _indented(value: Any, levels: int, indent: str = "") -> str:
    # Only the outer `levels` of objects and lists get a line per item; what lies deeper is one compact line.
    if levels == 0 or not isinstance(value, dict | list) or not value:
        return _json_line(value)
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{_json_line(k)}: {_indented(v, levels - 1, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + _indented(v, levels - 1, inner) for v in value) + "\n" + indent + "]"


def to_json(export: Any) -> str:
    """The full-fidelity export (one conversation, or a list of them) as UTF-8 JSON with one row per line.

    A lane, message or annotation is one line: readable and diff-friendly, and written by json's C encoder
    (it does not run with indent=, and a reply's token list would otherwise take hundreds of lines).
    """
    return _indented(export, 3 if isinstance(export, list) else 2) + "\n"


# The export formats that need nothing but the export itself; `jsonl` needs a chat lane's opening messages
# as well, so ui.service.transcripts.exports adds it.
FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": to_json,
    "md": to_markdown,
    "dpo": to_dpo,
}
