# The Masks page in a real browser: `simulacra ui` serving on 127.0.0.1, Debian's Chromium through Playwright.
# A person duplicates a built-in mask, edits it and sees the preview change, imports a PNG character card
# written by Pillow, and finds it offered to a lane on the Compare page.

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from personas.cards.files import import_card
from tests.support.browser import SETTLED_JS
from tests.support.cards import card_chunk, png_with_text

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]

CARD = {
    "spec": "chara_card_v2",
    "spec_version": "2.0",
    "data": {
        "name": "Captain Nemo",
        "description": "{{char}} commands the submarine Nautilus.",
        "first_mes": "Welcome aboard, {{user}}.",
    },
}
# The text of the preview's boxes of one kind (frame, example, greeting, turn, cue), as the page shows them.
PARTS_JS = """kind => [...document.querySelectorAll(`[class*="st-key-doc-${kind}-"]`)].map(el => el.innerText)"""


# The script has finished its run and the page shows no element left over from the run before it (until then
# an element that moved can be on the page twice).
def wait_for_part(page: Any, kind: str, text: str) -> None:
    page.wait_for_function(
        f"() => ({PARTS_JS})({json.dumps(kind)}).some(t => t.includes({json.dumps(text)}))", timeout=30_000
    )


def settle(page: Any) -> None:
    page.wait_for_function(SETTLED_JS, timeout=60_000)


def test_edit_a_mask_and_import_a_card_in_chromium(
    browser: Browser, simulacra_url: str, tmp_path: Path, data_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.goto(f"{simulacra_url}/")
    # The router's own links appear once the app has run (before that, Streamlit lists the raw files).
    page.get_by_placeholder("Message every lane").wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("link", name="Masks", exact=True).click()
    page.get_by_text("Lift the mask").wait_for(timeout=60_000)
    wait_for_part(page, "cue", "Ada:")
    settle(page)

    # Built-ins are read-only: duplicate, then edit the copy and watch the document change.
    page.get_by_role("button", name="Duplicate").click()
    page.get_by_text("Duplicated 'assistant' as 'assistant-copy'").wait_for(timeout=30_000)
    # Wait for the copy's editor to replace the read-only one before typing into it.
    inputs = '[class*="st-key-mask-field-character_name"] input'
    page.wait_for_function(
        f"() => {{ const i = document.querySelectorAll('{inputs}');"
        " return i.length === 1 && !i[0].disabled && i[0].value === 'Ada'; }",
        timeout=30_000,
    )
    name = page.locator(inputs)
    name.fill("Bea")
    name.press("Enter")
    wait_for_part(page, "cue", "Bea:")
    wait_for_part(page, "frame", "Participants: User and Bea")
    settle(page)
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved 'assistant-copy'.").wait_for(timeout=30_000)
    settle(page)
    saved = tomllib.loads((data_dir / "masks" / "assistant-copy.toml").read_text(encoding="utf-8"))

    # Import a PNG card through the Import popover.
    page.get_by_role("button", name="Import").click()
    upload = page.locator('[class*="st-key-masks-upload"] input[type="file"]')
    card = tmp_path / "nemo.png"
    card.write_bytes(png_with_text({"chara": card_chunk(CARD)}, colour="navy", size=(64, 96)))
    upload.set_input_files(str(card))
    page.get_by_text("as the mask 'captain-nemo'").wait_for(timeout=30_000)
    page.keyboard.press("Escape")
    wait_for_part(page, "frame", "Captain Nemo commands the submarine Nautilus.")
    wait_for_part(page, "greeting", "Captain Nemo: Welcome aboard, User.")
    wait_for_part(page, "cue", "Captain Nemo:")
    settle(page)
    # Export it again as a PNG card, as the browser downloads it.
    page.get_by_role("button", name="Export").click()
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Character card (PNG)").click()
    exported = tmp_path / "exported.png"
    download.value.save_as(exported)
    page.keyboard.press("Escape")
    settle(page)
    shot = tmp_path / "masks.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/simulacra-masks.png")
    body = page.inner_text("body")
    exceptions = page.locator('[data-testid="stException"]').count()

    # The Compare page offers the imported mask to a lane.
    page.get_by_role("link", name="Compare", exact=True).click()
    page.get_by_placeholder("Message every lane").wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("button", name="Settings").nth(1).click()
    page.get_by_role("combobox", name="Mask", exact=True).locator("visible=true").click()
    offered = page.get_by_role("option", name="captain-nemo")
    offered.wait_for(timeout=30_000)
    offered.click()
    page.keyboard.press("Escape")
    page.get_by_text("base@captain-nemo").wait_for(timeout=30_000)
    assert saved["character_name"] == "Bea"
    assert (data_dir / "masks" / "captain-nemo.toml").is_file()
    again = import_card(exported)
    assert (again.character_name, again.greeting) == ("Captain Nemo", "Welcome aboard, {{user}}.")
    with Image.open(exported) as picture:
        assert (picture.size, picture.getpixel((0, 0))) == ((64, 96), (0, 0, 128))  # the card's own picture
    assert exceptions == 0 and "Traceback" not in body
