# The Review page in AppTest: a pair shown without identities, a vote by its buttons saved in the order shown and
# then revealed, the next pair, and the leaderboard tab.

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from tests.support.review import THREE_LANES, save_conversation, save_run  # noqa: E402
from tests.support.screen import plain
from ui.service.review.service import Review
from ui.service.workspace import open_database

IDENTITIES = {word for lane in THREE_LANES for word in lane if word}


def page_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "text", "caption", "success", "info") for e in getattr(at, kind)]
    return plain("\n".join(str(p) for p in parts))


def seed(data_dir: Path) -> list[int]:
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    try:
        _, [replies] = save_conversation(engine)
    finally:
        engine.dispose()
    return replies


def test_the_review_page_hides_identities_until_the_vote_and_records_the_order(app: AppTest, data_dir: Path) -> None:
    seed(data_dir)
    at = app.run()
    at.session_state["reviewer"] = "Ada"
    at.switch_page("views/review.py").run()
    assert not at.exception
    shown = page_text(at)
    assert "1 of 3 pairs" in str([p.proto.text for p in at.get("progress")])
    assert not [word for word in IDENTITIES if word in shown], shown
    left_text = at.main.get_by_key("review-left").text[0].value
    at.button(key="review-choose-right").click().run()
    at.button(key="review-save").click().run()
    assert not at.exception
    revealed = page_text(at)
    assert "Saved: right" in revealed and any(lane[0] in revealed for lane in THREE_LANES)
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    with engine.connect() as connection:
        [(left_id, better)] = connection.execute(text("SELECT left_message_id, better FROM judgement")).all()
        [(content,)] = connection.execute(text(f"SELECT content FROM message WHERE id = {left_id}")).all()
    engine.dispose()
    assert (content, better) == (left_text, "right")
    at.button(key="review-next").click().run()
    assert "2 of 3 pairs" in str([p.proto.text for p in at.get("progress")])
    assert not [word for word in IDENTITIES if word in page_text(at)]


def test_the_leaderboard_tab_and_a_page_without_a_reviewer(app: AppTest, data_dir: Path) -> None:
    seed(data_dir)
    at = app.run()
    at.switch_page("views/review.py").run()
    assert not at.exception and "Reviewer" in page_text(at)
    at.session_state["reviewer"] = "Ada"
    at.run()
    at.button(key="review-choose-left").click().run()
    at.button(key="review-save").click().run()
    at.session_state["review-tab"] = "Leaderboard"
    at.run()
    assert not at.exception
    assert "1 judgement;" in page_text(at)
    assert len(at.dataframe) == 1


def test_the_leaderboard_narrows_to_a_reviewer_a_run_and_days(app: AppTest, data_dir: Path) -> None:
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    try:
        conversation, [replies] = save_conversation(engine)
        run = save_run(engine, conversation, replies[:2])  # one of the three pairs
        review = Review(engine)
        for reviewer in ("Ada", "Bo"):
            while (queue := review.next_pair(reviewer)).pair is not None:
                review.vote(queue.pair.pair, reviewer=reviewer, better="left")
    finally:
        engine.dispose()
    at = app.run()
    at.session_state["reviewer"] = "Ada"
    at.session_state["review-tab"] = "Leaderboard"
    at.switch_page("views/review.py").run()
    assert not at.exception and "6 judgements" in page_text(at)
    at.selectbox(key="board-reviewer").select("Bo").run()
    assert "3 judgements" in page_text(at)
    at.selectbox(key="board-run").select(run).run()
    assert f"run {run} · review-me" in at.selectbox(key="board-run").format_func(run)
    assert "1 judgement;" in page_text(at)
    at.selectbox(key="board-run").select(None).run()
    today = datetime.now(UTC).date()
    at.date_input(key="board-days").set_value((today - timedelta(days=3), today - timedelta(days=1))).run()
    assert not at.exception and "No judgements yet" in page_text(at)
    at.date_input(key="board-days").set_value((today - timedelta(days=1), today)).run()
    assert "3 judgements" in page_text(at)


def test_votes_within_one_lane_give_no_strengths_and_say_why(app: AppTest, data_dir: Path) -> None:
    engine = open_database(f"sqlite:///{data_dir / 'simulacra.db'}")
    try:
        save_conversation(engine, lanes=THREE_LANES[:1], samples=2)  # one pair: two samples of one lane
        review = Review(engine)
        queue = review.next_pair("Ada")
        assert queue.pair is not None
        review.vote(queue.pair.pair, reviewer="Ada", better="left")
    finally:
        engine.dispose()
    at = app.run()
    at.session_state["review-tab"] = "Leaderboard"
    at.switch_page("views/review.py").run()
    assert not at.exception and "1 judgement;" in page_text(at)
    assert "every vote here compares two replies of the same lane" in page_text(at)
    assert not at.dataframe and not at.get("vega_lite_chart")
    at.segmented_control(key="board-by").set_value("model").run()
    assert "the same model" in page_text(at)
