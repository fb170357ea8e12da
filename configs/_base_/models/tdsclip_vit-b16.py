# TDS-CLIP with a frozen CLIP ViT-B/16: side width 320 (5 heads of 64).
#
# T and n (neck.num_segments, neck.num_local_frames) and the number of classes
# are stated once, in the dataset base; each config binds them, e.g.
#   model = dict(
#       neck=dict(num_segments={{_base_.num_segments}},
#                 num_local_frames={{_base_.num_local_frames}}),
#       cls_head=dict(num_classes={{_base_.num_classes}}))
# A model base with another side width sets side_dim and repeats the two
# lines that use it (MMEngine reads a base file eagerly).
#
# The CLIP weights are loaded when the model is built: put OpenAI's
# ViT-B-16.pt (https://openaipublic.azureedge.net/clip/models/
# 5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt)
# at the path below, or override model.backbone.pretrained.
side_dim = 320

model = dict(
    type='TDSCLIPRecognizer',
    backbone=dict(
        type='FrozenCLIPViT',
        arch='ViT-B/16',
        pretrained='checkpoints/clip/ViT-B-16.pt',
        img_size=224,
    ),
    neck=dict(
        type='TDSSideNetwork',
        side_dim=side_dim,
        alpha=1.0,
        beta=0.5,
        use_td=True,
        use_sme=True,
        td_mode='pool',
        td_kernel_size=3,
    ),
    cls_head=dict(
        type='TDSHead',
        in_channels=side_dim,
        dropout_ratio=0.0,
        label_smooth_eps=0.1,
        average_clips='prob',
    ),
    # CLIP's pixel mean and std (OpenAI's 0.48145466, ... times 255).
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        format_shape='NCTHW',
    ),
)
