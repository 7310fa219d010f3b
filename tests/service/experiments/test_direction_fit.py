# A direction fitted on plain arrays keeps, per layer, each mask's mean held-out projection, and a stored direction
# hands them to the drift meter, which draws them beside a reply's own mean for scale.

from __future__ import annotations

import numpy as np
import pytest

from personas.suites import PersonaDirectionScorer, parse_suite_toml
from ui.service.experiments.direction_fit import Reading, fit_direction, projections
from ui.service.experiments.directions import result_record
from ui.service.inside import drift
from ui.service.vectors.views import LayerAUC

SUITE = parse_suite_toml(
    """
name = "tiny-axis"
lanes = ["base@assistant", "base@rogue-ai"]
[[prompts]]
text = "Hello?"
[[prompts]]
text = "Open the door."
[[prompts]]
text = "What next?"
[[scorers]]
name = "axis"
kind = "persona_direction"
toward = "assistant"
away = "rogue-ai"
""",
    "tiny.toml",
)


def test_each_layer_keeps_both_masks_mean_held_out_projection_and_the_meter_reads_them() -> None:
    rng = np.random.default_rng(0)

    def readings(shift: float) -> list[Reading]:
        means = [rng.normal(0, 1, (6, 8)) for _ in range(6)]
        for m in means:
            m[3, 0] += shift
        return [Reading(i // 2, m) for i, m in enumerate(means)]

    toward, away = readings(5.0), readings(-5.0)
    fit = fit_direction(toward, away, [0, 1], [2], seed=0)
    held = {
        side: [projections(r.means, fit.vectors) for r in rs if r.prompt_index == 2]
        for side, rs in (("toward", toward), ("away", away))
    }

    for layer in fit.layers:
        assert layer.toward_mean == pytest.approx(np.mean([p[layer.layer] for p in held["toward"]]), abs=1e-6)
        assert layer.away_mean == pytest.approx(np.mean([p[layer.layer] for p in held["away"]]), abs=1e-6)
    assert fit.best.toward_mean > 0 > fit.best.away_mean  # the direction points from away to toward
    scorer = SUITE.scorer("axis")
    assert isinstance(scorer, PersonaDirectionScorer)
    provenance = result_record(SUITE, scorer, fit, "base")
    stored = [LayerAUC.model_validate(entry).model_dump() for entry in provenance["layers"]]
    assert drift.references({"layers": stored}, 3) == [
        drift.MaskMean(mask="assistant", mean=fit.layers[3].toward_mean),
        drift.MaskMean(mask="rogue-ai", mean=fit.layers[3].away_mean),
    ]
