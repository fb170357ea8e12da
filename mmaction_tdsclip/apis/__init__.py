"""Inference on one video: what ``tools/demo.py`` runs.

MMAction2's own routes work on plugin configs as well (after
``import mmaction_tdsclip``): ``init_recognizer`` + ``inference_recognizer``
and ``ActionRecogInferencer``; checkpoints load strictly on every route.
"""

from .inference import (
    adapted_test_pipeline,
    detect_filename_tmpl,
    init_tdsclip_recognizer,
    pipeline_input,
    predict_topk,
)
from .labelled_video import draw_labels, write_labelled_video

__all__ = [
    'detect_filename_tmpl',
    'draw_labels',
    'init_tdsclip_recognizer',
    'pipeline_input',
    'predict_topk',
    'adapted_test_pipeline',
    'write_labelled_video',
]
