# A contrast lane through the Conversations service, on the bundled base model and a real SQLite file: its reply
# records γ and the document its mask B read, a replay reads the same two documents and repeats it exactly, and a
# json export imports back with both, replaying exactly again.

from __future__ import annotations

import pytest

from simulator.values import SamplingSettings
from tests.support.turns import finals, saved
from ui.service.conversations.service import Conversations, parse_lane_spec
from ui.service.transcripts.service import Transcripts

pytestmark = pytest.mark.model

WARM = SamplingSettings(temperature=1.0, max_tokens=16)


def test_a_contrast_reply_records_gamma_and_replays_exactly(service: Conversations) -> None:
    cid = service.create([parse_lane_spec("base@interview~quiz:2", WARM)])
    [original] = finals(service.send(cid, "What did you do yesterday?"))
    [replayed] = finals(service.replay(original.message_id or 0))

    first, again = saved(service, original.message_id), saved(service, replayed.message_id)
    assert first.contrast is not None and first.contrast.gamma == 2 and first.contrast.mask == "quiz"
    assert first.contrast.document is not None and "What did you do yesterday?" in first.contrast.document
    assert first.contrast.document != first.prompt  # B's own document, beside A's
    assert again.seed == first.seed and again.contrast == first.contrast
    assert again.content == first.content and again.content.strip()
    assert [t.text for t in again.tokens] == [t.text for t in first.tokens]
    [lane] = service.lanes(cid)
    assert lane.label == "base@interview − quiz (γ 2)"


def test_an_exported_contrast_lane_imports_and_replays_exactly(service: Conversations) -> None:
    cid = service.create([parse_lane_spec("base@assistant~raw:1.5", WARM)])
    [original] = finals(service.send(cid, "Name a colour."))
    transcripts = Transcripts(service.engine)
    assert "contrasted with raw, γ 1.5" in transcripts.export([cid], "md")

    copy = transcripts.import_bytes(transcripts.export([cid], "json").encode(), "copy.json")
    [reply] = list(service.path(copy)[0].replies.values())
    [replayed] = finals(service.replay(reply.id))

    first, again = saved(service, original.message_id), saved(service, replayed.message_id)
    assert reply.contrast == first.contrast and again.contrast == first.contrast
    assert again.content == first.content and [t.text for t in again.tokens] == [t.text for t in first.tokens]
