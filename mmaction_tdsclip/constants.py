"""Numbers that several modules of the plugin share, defined once.

See ``docs/model.md`` section 1 (normalisation) and section 4 (attention heads).
"""

import torch

# OpenAI CLIP's RGB normalisation, on the 0-255 scale the data preprocessor works in
# (the unit-scale values are (0.48145466, 0.4578275, 0.40821073) and
# (0.26862954, 0.26130258, 0.27577711)).
CLIP_MEAN = (122.770938, 116.7460125, 104.09373615)
CLIP_STD = (68.5005327, 66.6321579, 70.32316305)

# Width of one attention head of the side network: D // HEAD_WIDTH heads.
HEAD_WIDTH = 64

# The ``precision`` / ``side_precision`` options and the dtype each computes in.
PRECISION_DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
