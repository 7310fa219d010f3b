"""The logit lens on a saved reply: for a token the user picked, what each layer of the model would have predicted
there (`simulator.lens`). Only an in-process model shows its layers: a server's or a chat model's reply is refused
with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from simulator.errors import LaneSpecError
from simulator.lens import Lens
from ui.service.conversations.service import Conversations

MAX_TOP = 10


class LensLayerView(BaseModel):
    layer: int
    top: list[tuple[str, float]]  # token text (model output: show as text) and probability
    actual_p: float
    actual_rank: int
    unreliable: bool


class LensView(BaseModel):
    """Every layer's prediction for token `index` of reply `message_id` (`actual`, the token it wrote)."""

    message_id: int
    lane: str
    index: int
    actual: str
    layers: list[LensLayerView]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump()


class Lenses:
    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations
        self.registry = conversations.registry

    def for_reply(self, message_id: int, index: int, k: int = 5) -> LensView:
        """Each layer's top-`k` for token `index` of a saved in-process base reply.

        Raises:
            LaneSpecError: not such a reply, a token outside it, k out of range, or a model without layers here.
            LaneError: the model failed.
        """
        if not 1 <= k <= MAX_TOP:
            raise LaneSpecError(f"k must be between 1 and {MAX_TOP} (got {k})")
        reply, lane, _ = self.conversations.reply_source(message_id)
        if lane.kind != "simulator" or not isinstance(reply.prompt, str):
            raise LaneSpecError(f"message {message_id} is a chat-model reply: it has no document to read the layers of")
        n = len(reply.tokens)
        if not 0 <= index < n:
            raise LaneSpecError(f"token {index} is out of range: reply {message_id} has {n} tokens (0 to {n - 1})")
        entry = self.registry.resolve(lane.model)
        if not entry.is_local:
            raise LaneSpecError(
                f"{entry.name} runs on a server, which does not expose its layers: the logit lens needs an"
                " in-process model"
            )
        simulator = self.registry.local_simulator(entry)
        assert isinstance(reply.prompt, str)
        # As a tree from a reply starts: the document and the reply's tokens before the picked one, so the lens
        # reads the very token the user picked (the reply's text re-tokenized whole could split differently).
        document = reply.prompt + "".join(t.text for t in reply.tokens[:index])

        def job() -> Iterator[Lens | None]:
            yield (yield from simulator.logit_lens(document, reply.tokens[index].text, 0, k=k))

        lens = next(item for item in reversed(list(simulator.run_job(job, self.registry.worker))) if item is not None)
        layers = [
            LensLayerView(
                layer=layer.layer,
                top=[(a.text, a.p) for a in layer.top],
                actual_p=layer.actual_p,
                actual_rank=layer.actual_rank,
                unreliable=layer.unreliable,
            )
            for layer in lens.layers
        ]
        return LensView(message_id=message_id, lane=lane.label, index=index, actual=lens.actual, layers=layers)
