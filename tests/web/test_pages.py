# Every page renders without an exception, and the draft lanes of a new conversation can be edited
# (no turn runs here, so these stay quick).

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

# No turn runs here, but every page these tests open asks for the model registry, whose first use starts
# loading the bundled models in a background thread (ui/web/resources.py): that is a model load.
pytestmark = pytest.mark.model


def test_compare_page_shows_the_three_default_lanes(app: AppTest) -> None:
    at = app.run()
    assert not at.exception
    labels = [m.value.replace("\\", "") for m in at.main.markdown]
    assert [v for v in labels if v.startswith("**")] == ["**base@raw**", "**base@assistant**", "**chat**"]
    assert at.chat_input[0].placeholder == "Message every lane"
    assert at.slider(key="draft-0-temperature").value == 0.7
    assert at.number_input(key="draft-0-max_tokens").value == 128
    assert at.number_input(key="draft-0-seed").value is None


def test_draft_lanes_can_be_added_and_removed(app: AppTest) -> None:
    at = app.run()
    at.button(key="remove-1").click().run()
    assert not at.exception
    assert [b.key for b in at.button if (b.key or "").startswith("remove-")] == ["remove-0", "remove-2"]
    add = next(b for b in at.main.button if b.label == "Add lane")
    add.click().run()
    assert not at.exception
    assert len([b for b in at.button if (b.key or "").startswith("remove-")]) == 3


def test_masks_page_lifts_the_mask(app: AppTest) -> None:
    at = app.run()
    at.switch_page("views/masks.py").run()
    assert not at.exception
    at.text_area(key="masks-preview-message").set_value("Where is Lyon?").run()
    assert not at.exception
    document, messages = (at.main.get_by_key(key).code[0].value for key in ("masks-document", "masks-messages"))
    assert document.endswith("User: Where is Lyon?\nAda:")
    assert '"content": "Where is Lyon?"' in messages and '"role": "system"' in messages


def test_models_page_lists_bundled_models_and_names_missing_keys(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "anthropic-test-value-never-shown")
    at = app.run()
    at.switch_page("views/models.py").run()
    assert not at.exception
    names = list(at.dataframe[0].value["name"])
    assert names[:2] == ["base", "chat"]
    at.text_input[0].set_value("openai/gpt-4o-mini").run(timeout=60)
    assert not at.exception
    assert at.dataframe[1].value["API key"][0] == "missing: OPENAI_API_KEY"
    at.text_input[0].set_value("anthropic/claude-3-5-haiku-20241022").run(timeout=60)
    assert at.dataframe[1].value["API key"][0] == "present"
    assert "sk-ant-test" not in str(at.dataframe[1].value.to_dict())
